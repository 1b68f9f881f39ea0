"""Scoring: the one Scorer that serving, ``predict`` and monitoring share (``scorer.py``),
the fast path it compiles for ``native`` pipelines (``fastpath.py``), and the
explanations of its predictions (``explain.py``)."""

from mlfactory.scoring.explain import Explanation
from mlfactory.scoring.scorer import FarValues, Scorer, Scores, Validated

__all__ = ["Explanation", "FarValues", "Scorer", "Scores", "Validated"]
