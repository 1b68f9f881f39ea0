"""Routing in a model family: each row is scored by its group's model.

A family (``Manifest.family``, from ``group_by`` in the spec) holds one pipeline
per group that earned one, beside the global model that scores every other
row: a group too small to get a model, one whose model did not beat the global
model, one never seen in training, and a row whose group value is missing.

A row's group is its values in the group columns as text (``group_keys``; a
whole number is the same group however it arrives: ``1``, ``1.0``, ``"1"``), so
training and every scoring path (the package, the Scorer's fast path, MLflow's
pyfunc) route a row the same way. ``assign`` gives each row its member,
``combine`` puts the members' predictions back in the rows' order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mlfactory.data.schema import ordinal_texts

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.registry.manifest import Family

__all__ = ["GLOBAL", "SEPARATOR", "assign", "combine", "group_keys", "key_of"]

GLOBAL = -1  # the member index of rows the global model scores
SEPARATOR = "\x1f"  # between the values of several group columns in a key
Predict = Callable[[int, npt.NDArray[np.intp]], tuple[Any, Any | None]]


def key_of(values: Sequence[str]) -> str:
    """A group's key: its values (as text) joined."""
    return SEPARATOR.join(values)


def group_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Each row's group key (``key_of`` its values as text); NaN where a value is missing."""
    import pandas as pd

    texts = [ordinal_texts(frame[column]) for column in columns]
    if len(texts) == 1:
        return texts[0]
    rest = pd.concat(texts[1:], axis=1)
    return texts[0].str.cat(rest, sep=SEPARATOR)  # NaN when any value is missing


def assign(family: Family, frame: pd.DataFrame) -> npt.NDArray[np.intp]:
    """Each row's member: its position in ``family.members`` when that member has a model
    of its own, else ``GLOBAL``."""
    own = {key_of(m.values): i for i, m in enumerate(family.members) if m.file is not None}
    if not own:
        return np.full(len(frame), GLOBAL, dtype=np.intp)
    found = group_keys(frame, family.columns).map(own)
    return np.asarray(found.fillna(GLOBAL).to_numpy(), dtype=np.intp)


def combine(assignment: npt.NDArray[np.intp], predict: Predict) -> tuple[Any, Any | None]:
    """The predictions of every row, each by its member.

    ``predict(member, rows)`` predicts the rows at positions ``rows`` with that
    member's model (``GLOBAL``: the global model); each member is called once.
    """
    members = np.unique(assignment)
    if len(members) <= 1:  # one model for every row (or no row): no copy
        only = int(members[0]) if len(members) else GLOBAL
        return predict(only, np.arange(len(assignment)))
    pred: Any = None
    proba: Any = None
    for member in members:
        rows = np.flatnonzero(assignment == member)
        part, part_proba = predict(int(member), rows)
        part = np.asarray(part)
        if pred is None:
            pred = np.empty(len(assignment), dtype=part.dtype)
            if part_proba is not None:
                proba = np.empty((len(assignment), part_proba.shape[1]))
        pred[rows] = part
        if proba is not None:
            proba[rows] = part_proba
    return pred, proba
