"""``job.yaml``: an ETML job in five parts (extract, transform, detect, summarise, load).

::

    name: taxi-rides
    extract:   {source: "rides/date={date}/*.parquet", on_empty: ok}
    transform: {sql: "SELECT *, ride_time / ride_dist AS min_per_km FROM rows"}
    detect:    {detector: {name: dbscan, params: {eps: 0.3}}, id_column: ride_id}
               # or {model: taxi-anomaly@champion}: trained once, scoring daily
    summarise: {columns: [traffic, weather, news], template: "...", llm: {base_url: ...}}
    load:      {output: out}

Relative paths (a local source, the output) are relative to the job file. Every
problem of the file is reported at once (``load_job``), with the ones between keys:
a source without ``{date}``, a secret written in the spec, a template naming a
column that is not listed, a detector that is not one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlfactory.errors import SpecError
from mlfactory.etml.extract import check_source
from mlfactory.etml.llm import LLMSettings
from mlfactory.etml.summarise import DAY_FIELDS, check_template
from mlfactory.models import CATALOG
from mlfactory.spec import EngineSpec, RegistrySpec, load_yaml

__all__ = ["Job", "JobSpec", "load_job"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtractSpec(_Strict):
    source: str = Field(
        description="Where a day's rows are, holding {date}: a file, glob or folder (relative "
        "to job.yaml), or an fsspec URL such as s3://bucket/rides/date={date}/*.parquet."
    )
    sql: str | None = Field(
        None, description="DuckDB SQL over the rows read (the view `rows`), e.g. to pick a day."
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec options, e.g. {endpoint_url: ..., key_env: VAR, secret_env: VAR}.",
    )
    on_empty: Literal["ok", "fail"] = Field(
        "ok",
        description="A day with no rows: write an empty day and exit 0 (ok), or exit 2 (fail).",
    )


class TransformSpec(_Strict):
    sql: str = Field(description="DuckDB SQL over the day's rows (the view `rows`).")


class DetectorSpec(_Strict):
    name: str = Field(description="A detector of the catalog: dbscan, isolation_forest, ...")
    params: dict[str, Any] = Field(default_factory=dict)
    features: list[str] | None = Field(None, description="Columns it sees. Default: all but id.")
    exclude: list[str] = Field(default_factory=list, description="Columns it never sees.")


class DetectSpec(_Strict):
    model: str | None = Field(
        None, description="A registered anomaly model, NAME@ALIAS or NAME/VERSION."
    )
    detector: DetectorSpec | None = Field(
        None, description="A detector fitted on each day's rows (the book's way)."
    )
    id_column: str | None = Field(None, description="The rows' id, kept in the output.")

    @model_validator(mode="after")
    def _one(self) -> DetectSpec:
        if (self.model is None) == (self.detector is None):
            raise ValueError("give model (a registered anomaly model) or detector, not both")
        return self


_LLM = LLMSettings()  # the client's defaults: the spec's keys take theirs from it


class LLMSpec(_Strict):
    """An OpenAI-compatible endpoint. MLFACTORY_LLM_BASE_URL / MLFACTORY_LLM_MODEL override.

    The keys a job spec may set, a subset of ``LLMSettings`` (the cache folder, the
    backoff and the temperature are the job's or the client's), with its defaults.
    """

    base_url: str | None = _LLM.base_url
    model: str = _LLM.model
    api_key_env: str = _LLM.api_key_env
    concurrency: int = _LLM.concurrency
    timeout: float = _LLM.timeout
    retries: int = _LLM.retries
    max_tokens: int = _LLM.max_tokens
    token_budget: int | None = _LLM.token_budget
    price_per_1k_input: float = _LLM.price_per_1k_input
    price_per_1k_output: float = _LLM.price_per_1k_output


class SummariseSpec(_Strict):
    columns: list[str] = Field(
        min_length=1, description="The text columns summarised: the only ones sent to the LLM."
    )
    template: str | None = Field(
        None, description="The row prompt, naming listed columns as {column}."
    )
    day_template: str | None = Field(
        None, description="The day's prompt, with {flagged}, {total} and {summaries}."
    )
    max_rows: int = Field(
        500, ge=0, description="Flagged rows summarised a day, highest scores first."
    )
    llm: LLMSpec = Field(default_factory=LLMSpec)


class LoadSpec(_Strict):
    output: str = Field(description="The folder of date=YYYY-MM-DD/ outputs.")


class JobSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    extract: ExtractSpec
    transform: TransformSpec | None = None
    detect: DetectSpec
    summarise: SummariseSpec | None = None
    load: LoadSpec
    engine: EngineSpec = Field(default_factory=EngineSpec)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)


@dataclass(frozen=True)
class Job:
    """A checked job spec and the file it came from (relative paths are relative to it)."""

    spec: JobSpec
    path: Path

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def output(self) -> Path:
        return self.folder / self.spec.load.output

    @property
    def source(self) -> str:
        source = self.spec.extract.source
        local = "://" not in source and not Path(source).is_absolute()
        return str(self.folder / source) if local else source

    def llm(self, cache_dir: Path) -> LLMSettings:
        spec = self.spec.summarise
        assert spec is not None
        return LLMSettings(**spec.llm.model_dump(), cache_dir=cache_dir).with_environment()


def load_job(path: str | Path) -> Job:
    """Read and check ``job.yaml``; a ``SpecError`` lists every problem."""
    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read the job spec {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path} must be a mapping of extract, detect, load ... keys")
    try:
        spec = JobSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise SpecError.from_problems(f"{path} is not a valid job spec", problems) from None
    problems = _between_keys(spec)
    if problems:
        raise SpecError.from_problems(f"{path} is not a valid job spec", problems)
    return Job(spec, path.resolve())


def _between_keys(spec: JobSpec) -> list[str]:
    e = spec.extract
    problems = check_source(e.source, e.sql, e.storage_options)
    detector = spec.detect.detector
    if detector is not None:
        entry = CATALOG.get(detector.name)
        if entry is None or "detector" not in entry.builders or detector.name == "dummy":
            names = [n for n, c in CATALOG.items() if "detector" in c.builders and n != "dummy"]
            problems.append(
                f"detect.detector.name: {detector.name!r} is not a detector; choose from "
                f"{', '.join(names)}"
            )
    s = spec.summarise
    if s is not None:
        if s.template is not None:
            problems += [f"summarise.template: {p}" for p in check_template(s.template, s.columns)]
        if s.day_template is not None:
            problems += [
                f"summarise.day_template: {p}" for p in check_template(s.day_template, DAY_FIELDS)
            ]
        try:
            LLMSettings(**s.llm.model_dump(), cache_dir=None)
        except Exception as exc:  # BadInputError listing the settings' problems
            problems.append(f"summarise.llm: {exc}")
    return problems
