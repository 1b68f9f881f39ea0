"""The decision threshold of a binary classifier, chosen on the validation rows.

``threshold:`` in ``factory.yaml`` gives one rule: ``fixed`` (a probability),
``optimize`` (the threshold with the best f1 or accuracy) or ``cost`` (the least
total cost of false positives and false negatives). The two searched rules look
at every distinct probability the chosen model gives the validation rows, so
the test rows stay untouched until the evaluation. The threshold is stored in
the manifest; every scoring path applies it (``Task.decide``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mlfactory.errors import DataError
from mlfactory.registry.manifest import DecisionThreshold

if TYPE_CHECKING:
    from mlfactory.spec import FactorySpec, ThresholdSpec
    from mlfactory.training.prepare import Encoded, Prepared
    from mlfactory.training.search import Searched

__all__ = ["choose_threshold", "flag_threshold_step", "threshold_step"]


def threshold_step(
    spec: FactorySpec, prepared: Prepared, encoded: Encoded, searched: Searched
) -> DecisionThreshold | None:
    """The threshold step: the spec's rule on the chosen model's validation scores."""
    from mlfactory.models import CATALOG

    if spec.threshold is None:
        return None
    best, classes = searched.best, prepared.schema.classes
    assert classes is not None and len(classes) == 2  # prepare refuses other targets
    m = encoded.matrices[CATALOG[best.name].style].load()
    _, proba = prepared.task.predict(best.estimator, m.X_val, prepared.n_classes)
    assert proba is not None  # a classifier's
    return choose_threshold(spec.threshold, m.y_val, proba[:, 1], positive=str(classes[1]))


def flag_threshold_step(
    spec: FactorySpec, prepared: Prepared, encoded: Encoded, searched: Searched
) -> str | None:
    """A detector's flag threshold from the known anomalies' share of the training rows.

    Only when the model flags by a threshold of its own (``threshold_``), the rows
    have known anomalies and the spec sets no ``anomaly:`` rule; otherwise the
    detector keeps its own threshold. The detector then flags the share of
    training rows that are known anomalies: the contamination the labels show,
    which, unlike a threshold searched on a few validation anomalies, does not
    hang on how a handful of rows happen to score. Returns what was set, in words.
    """
    from mlfactory.models import CATALOG

    best = searched.best
    if spec.anomaly is not None or prepared.n_classes != 2:
        return None
    if not hasattr(best.estimator, "threshold_"):
        return None
    m = encoded.matrices[CATALOG[best.name].style].load()
    share = float(np.mean(m.y_train))
    if not 0 < share < 0.5:  # a detector's contamination rule takes (0, 0.5)
        return None
    _, scores = prepared.task.predict(best.estimator, m.X_train, prepared.n_classes)
    assert scores is not None
    value = float(np.quantile(scores[:, 1], 1 - share))
    # as a parameter too: stability's refits (clones) then flag by the same rule
    best.estimator.set_params(contamination=share, threshold=None)
    best.estimator.threshold_ = value
    return (
        f"flag threshold {value:.4g}: flags the {share:.2%} of training rows that the labels "
        "call anomalies (set anomaly.contamination or anomaly.threshold to choose another)"
    )


def choose_threshold(
    rule: ThresholdSpec, y: Any, score: Any, *, positive: str
) -> DecisionThreshold:
    """The threshold ``rule`` gives on validation labels ``y`` (0/1) and scores ``score``.

    ``positive`` names the positive class in messages. Predictions are positive
    from the threshold up; a searched threshold lies halfway between two
    neighbouring validation scores, so it does not hang on one row's value.
    """
    if rule.fixed is not None:
        return DecisionThreshold(value=rule.fixed, rule="fixed in factory.yaml")
    value, described = best_cut(rule, y, score, positive=positive, probability=True)
    return DecisionThreshold(value=value, rule=described)


def best_cut(
    rule: ThresholdSpec, y: Any, score: Any, *, positive: str, probability: bool = False
) -> tuple[float, str]:
    """The searched rule's threshold on ``score`` (a ``probability``: at most 1), in words."""
    hits = np.asarray(y) == 1
    score = np.asarray(score, dtype=float)
    n, positives = len(hits), int(hits.sum())
    if positives in (0, n):
        what = "none" if positives == 0 else "all"
        raise DataError(
            f"threshold: {what} of the {n:,} validation rows are {positive!r}, so no threshold "
            "can be chosen on them; use threshold: {fixed: ...} or more data"
        )
    order = np.argsort(-score, kind="stable")
    ranked, ranked_hits = score[order], hits[order]
    last = np.r_[ranked[1:] != ranked[:-1], True]  # the last row of each distinct score
    cut = ranked[last]  # distinct scores, highest first
    # option 0 predicts no row positive; option j the rows scoring cut[j-1] or more
    tp = np.r_[0, np.cumsum(ranked_hits)[last]].astype(float)
    fp = np.r_[0, np.cumsum(~ranked_hits)[last]].astype(float)
    fn, tn = positives - tp, (n - positives) - fp
    if rule.cost is not None:
        costs = rule.cost.false_positive * fp + rule.cost.false_negative * fn
        best = int(np.argmin(costs))
        described = (
            f"least cost ({costs[best]:,.4g} at false positive {rule.cost.false_positive:g}, "
            f"false negative {rule.cost.false_negative:g})"
        )
    else:
        if rule.optimize == "f1":
            values = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=tp > 0)
        else:  # accuracy
            values = (tp + tn) / n
        best = int(np.argmax(values))
        described = f"best {rule.optimize} ({values[best]:.4g})"
    if best == 0:
        value = float(np.nextafter(cut[0], np.inf))  # above every score
    else:
        lowest = 0.0 if probability else float(cut[-1]) - 1.0  # flag every row
        below = cut[best] if best < len(cut) else lowest
        value = float((cut[best - 1] + below) / 2)
    return min(value, 1.0) if probability else value, f"{described} on {n:,} validation rows"
