"""Routing in a model family: each row to its group's member, the rest to the global model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlfactory.registry.family import GLOBAL, assign, combine, group_keys
from mlfactory.registry.manifest import Family, Member


def family(*members: tuple[list[str], str | None], columns: tuple[str, ...] = ("g",)) -> Family:
    return Family(
        columns=list(columns),
        min_rows=1,
        members=[Member(values=v, file=f, reason="", rows={}) for v, f in members],
        global_metrics={},
    )


def test_a_group_value_is_one_group_however_it_arrives() -> None:
    frame = pd.DataFrame({"g": pd.Series([1, 1.0, "1", None, "x"], dtype=object)})
    keys = group_keys(frame, ["g"])
    assert keys.tolist()[:3] == ["1", "1", "1"] and pd.isna(keys[3]) and keys[4] == "x"
    routes = family((["1"], "family/0.skops"), (["x"], None))
    assert assign(routes, frame).tolist() == [0, 0, 0, GLOBAL, GLOBAL]  # x has no own model


def test_rows_of_unseen_groups_or_a_missing_value_go_to_the_global_model() -> None:
    frame = pd.DataFrame({"a": ["p", "p", "q", None, "p"], "b": [1.0, 2.0, 1.0, 1.0, np.nan]})
    routes = family(
        (["p", "1"], "family/0.skops"), (["q", "1"], "family/1.skops"), columns=("a", "b")
    )
    assert assign(routes, frame).tolist() == [0, GLOBAL, 1, GLOBAL, GLOBAL]
    assert assign(family((["p", "1"], None), columns=("a", "b")), frame).tolist() == [GLOBAL] * 5


def test_combine_puts_each_members_predictions_back_in_row_order() -> None:
    calls: list[tuple[int, list[int]]] = []

    def predict(member: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append((member, rows.tolist()))
        return np.full(len(rows), member), np.tile([member, 10 * member], (len(rows), 1))

    pred, proba = combine(np.array([2, GLOBAL, 2, 0]), predict)
    assert pred.tolist() == [2, GLOBAL, 2, 0]
    assert proba[:, 1].tolist() == [20, -10, 20, 0]
    assert sorted(calls) == [(GLOBAL, [1]), (0, [3]), (2, [0, 2])]  # each member once
    calls.clear()
    pred, _ = combine(np.array([GLOBAL, GLOBAL]), predict)
    assert calls == [(GLOBAL, [0, 1])] and pred.tolist() == [GLOBAL, GLOBAL]
    calls.clear()
    pred, _ = combine(np.array([], dtype=np.intp), predict)
    assert calls == [(GLOBAL, [])] and len(pred) == 0
