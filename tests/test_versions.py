"""Installed versions: the one lookup behind a model's pins and a training's lineage."""

from __future__ import annotations

import numpy
import pandas

from mlfactory.versions import installed_version, installed_versions


def test_installed_and_missing_distributions() -> None:
    assert installed_version("numpy") == numpy.__version__
    assert installed_version("no-such-distribution-xyz") is None
    assert installed_versions(["pandas", "no-such-distribution-xyz", "numpy"]) == {
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
    }
    assert list(installed_versions(["pandas", "numpy"])) == ["pandas", "numpy"]
