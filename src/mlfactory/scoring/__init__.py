"""Scoring: the one Scorer that serving, ``predict`` and monitoring share (``scorer.py``),
and the fast path it compiles for ``native`` pipelines (``fastpath.py``)."""

from mlfactory.scoring.scorer import Scorer, Scores, Validated

__all__ = ["Scorer", "Scores", "Validated"]
