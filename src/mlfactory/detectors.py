"""Anomaly detectors of mlfactory's own: scikit-learn estimators stored inside saved pipelines.

Every detector has one contract, which ``task: anomaly`` relies on:

- ``fit(X, y=None)``: ``y`` is ignored (known anomalies are for evaluation only).
  It sets ``threshold_``: ``threshold`` when given; else, when ``contamination``
  (0 < c < 0.5) is given, the (1 - c) quantile of the training rows' scores; else
  the detector's *natural* threshold (each class says which). Giving both is a
  ``ValueError``. ``train_flag_rate_`` is the share of training rows flagged.
- ``score_samples(X)``: float64, **higher = more anomalous**, for every detector.
  This is the opposite of scikit-learn's own ``IsolationForest.score_samples`` and
  ``LocalOutlierFactor.score_samples`` (higher = more normal); the wrappers here
  negate them. Finite for every finite row.
- ``predict(X)``: int64 0/1, 1 where ``score_samples(X) > threshold_`` (not
  scikit-learn's -1/+1 outlier convention).
- ``column_scores(X)``: (n, d) per-column unusualness, the robust z-score
  ``|x - median| / (1.4826 MAD)`` of the training rows (the rule's own per-column
  scores for ``RobustZDetector``); the report names each anomaly's most unusual
  columns with it.

Each detector is deterministic given ``random_state`` and single-threaded (the
server runs one process per core). The inputs are the ``scaled`` preprocessing's
dense float matrix, so distances are in standard deviations of the features.
Fitted state holds only numpy arrays, numbers and scikit-learn's ``KDTree``
(which ``LocalOutlierFactor`` holds anyway), all on the model-file allow-list
(``registry/trusted_types.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

__all__ = [
    "DBSCANDetector",
    "Detector",
    "HDBSCANDetector",
    "IsolationForestDetector",
    "LOFDetector",
    "RobustZDetector",
    "fit_warning",
    "units_warning",
]

Array = np.ndarray[Any, Any]

_MAD_TO_SD = 1.4826  # 1 / 0.6745: the MAD of a normal is 0.6745 standard deviations
_MEAN_AD_TO_SD = 1.2533  # sqrt(pi / 2): the mean absolute deviation of a normal is 0.7979 sd
_SD_TO_IQR = 1.3490  # the IQR of a normal is 1.349 standard deviations
_EDGE = 0.9  # HDBSCAN: a member's core distance counts up to this quantile of its cluster's


def _robust_scale(X: Array) -> tuple[Array, Array]:
    """Per column: the median and a robust standard deviation (0 for a constant column).

    1.4826 MAD; where the MAD is 0 (a column more than half one value, e.g. a
    one-hot indicator) 1.2533 times the mean absolute deviation from the median
    (Iglewicz and Hoaglin's fallback); 0 where that is 0 too (a constant column).
    """
    center = np.median(X, axis=0)
    deviation = np.abs(X - center)
    mad = np.median(deviation, axis=0) * _MAD_TO_SD
    mean_ad = deviation.mean(axis=0) * _MEAN_AD_TO_SD
    return center, np.where(mad > 0, mad, mean_ad)


def _kth_distances(X: Array, k: int) -> Array:
    """Each row's distance to its k-th nearest row of ``X``, counting itself as the first."""
    from sklearn.neighbors import KDTree

    k = min(k, len(X))
    distances, _ = KDTree(X).query(X, k=k)
    return np.asarray(distances[:, k - 1], dtype=np.float64)


class Detector(BaseEstimator):  # type: ignore[misc]
    """The contract every detector keeps (module docstring); subclasses implement
    ``_fit(X) -> training scores`` and ``_score(X) -> scores``, and name ``natural``."""

    natural: float = 0.0  # the threshold without contamination or threshold (per class)

    def __init__(self, *, contamination: float | None = None, threshold: float | None = None):
        self.contamination = contamination
        self.threshold = threshold

    def _natural_threshold(self) -> float:
        return float(self.natural)

    def _fit(self, X: Array) -> Array:
        raise NotImplementedError

    def _score(self, X: Array) -> Array:
        raise NotImplementedError

    def fit(self, X: Any, y: Any = None) -> Detector:
        from sklearn.utils.validation import validate_data

        if self.contamination is not None and self.threshold is not None:
            raise ValueError(
                f"{type(self).__name__} got contamination={self.contamination} and "
                f"threshold={self.threshold}: give one of them (or neither, for the "
                f"natural threshold {self.natural:g})"
            )
        if self.contamination is not None and not 0 < self.contamination < 0.5:
            raise ValueError(
                f"contamination must be between 0 and 0.5 (the share of rows to flag), "
                f"got {self.contamination}"
            )
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self.center_, self.scale_ = _robust_scale(X)
        scores = np.asarray(self._fit(X), dtype=np.float64)
        if self.threshold is not None:
            self.threshold_ = float(self.threshold)
        elif self.contamination is not None:
            self.threshold_ = float(np.quantile(scores, 1.0 - self.contamination))
        else:
            self.threshold_ = self._natural_threshold()
        self.train_flag_rate_ = float(np.mean(scores > self.threshold_))
        return self

    def _validated(self, X: Any) -> Array:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        return np.asarray(validate_data(self, X, dtype=np.float64, reset=False))

    def score_samples(self, X: Any) -> Array:
        """Each row's anomaly score: higher is more anomalous."""
        return np.asarray(self._score(self._validated(X)), dtype=np.float64)

    def predict(self, X: Any) -> Array:
        """1 for a row whose score is above ``threshold_``, else 0."""
        return (self.score_samples(X) > self.threshold_).astype(np.int64)

    def column_scores(self, X: Any) -> Array:
        """(n, d): how unusual each value is, in robust standard deviations from the
        training median (0 for a column constant in training)."""
        X = self._validated(X)
        kept = self.scale_ > 0
        out = np.zeros(X.shape, dtype=np.float64)
        out[:, kept] = np.abs(X[:, kept] - self.center_[kept]) / self.scale_[kept]
        return out


class DBSCANDetector(Detector):
    """DBSCAN (the book's), made a scorer: a row's score is its distance to the nearest
    core point, and the natural threshold is ``eps``.

    DBSCAN runs on at most ``max_samples`` training rows (a sample seeded by
    ``random_state``: its memory grows with the neighbours within ``eps``). A core
    point has ``min_samples`` rows (itself included) within ``eps``; a border point
    is within ``eps`` of a core point; noise is neither. So on the rows DBSCAN saw,
    ``score > eps`` is exactly DBSCAN's noise, and a new row is scored the same way.
    ``eps=None`` chooses it from the data: the ``eps_quantile`` quantile of each
    sampled row's distance to its ``min_samples``-th nearest row (itself counted),
    so about that share of the sample are core points and at most the rest noise.
    With no core point at all every row is noise: its score is just above ``eps``
    plus its distance to the nearest sampled row.
    """

    def __init__(
        self,
        *,
        eps: float | None = None,
        min_samples: int = 10,
        eps_quantile: float = 0.98,
        max_samples: int = 10_000,
        random_state: int | None = None,
        contamination: float | None = None,
        threshold: float | None = None,
    ):
        super().__init__(contamination=contamination, threshold=threshold)
        self.eps = eps
        self.min_samples = min_samples
        self.eps_quantile = eps_quantile
        self.max_samples = max_samples
        self.random_state = random_state

    def _natural_threshold(self) -> float:
        return float(self.eps_)

    def _fit(self, X: Array) -> Array:
        from sklearn.cluster import DBSCAN
        from sklearn.neighbors import KDTree

        if self.eps is not None and not self.eps > 0:
            raise ValueError(f"eps must be above 0 (or None: chosen from the data), got {self.eps}")
        if not 0 < self.eps_quantile < 1:
            raise ValueError(f"eps_quantile must be between 0 and 1, got {self.eps_quantile}")
        sample = _sample(X, self.max_samples, self.random_state)
        kth = _kth_distances(sample, self.min_samples)
        self.median_neighbour_distance_ = float(np.median(_kth_distances(sample, 2)))
        self.eps_ = float(self.eps) if self.eps is not None else _auto_eps(kth, self.eps_quantile)
        dbscan = DBSCAN(eps=self.eps_, min_samples=self.min_samples, n_jobs=1).fit(sample)
        core = sample[dbscan.core_sample_indices_]
        self.sample_labels_ = np.asarray(dbscan.labels_, dtype=np.int64)
        self.n_core_ = len(core)
        # no core point: every row is noise, scored from all sampled rows, above eps
        self.offset_ = 0.0 if len(core) else float(np.nextafter(self.eps_, np.inf))
        self.tree_ = KDTree(core if len(core) else sample)
        return self._score(X)

    def _score(self, X: Array) -> Array:
        distances, _ = self.tree_.query(X, k=1)
        return np.asarray(distances[:, 0] + self.offset_, dtype=np.float64)


def _sample(X: Array, max_samples: int, random_state: Any) -> Array:
    from sklearn.utils import check_random_state

    if max_samples < 2:
        raise ValueError(f"max_samples must be at least 2, got {max_samples}")
    if len(X) <= max_samples:
        return X
    rows = check_random_state(random_state).choice(len(X), max_samples, replace=False)
    return np.asarray(X[np.sort(rows)])


def _auto_eps(kth: Array, quantile: float) -> float:
    eps = float(np.quantile(kth, quantile))
    if eps > 0:
        return eps
    positive = kth[kth > 0]  # most rows repeat: the smallest real distance
    return float(positive.min()) if len(positive) else 1.0  # every row the same: any eps


class HDBSCANDetector(Detector):
    """HDBSCAN's clusters, made a scorer for new rows.

    HDBSCAN runs on at most ``max_samples`` training rows (seeded sample). Each
    clustered row keeps its core distance (the distance to its ``min_samples``-th
    nearest sampled row, itself counted; ``min_samples=None``: ``min_cluster_size``).
    A row's score is the least, over its ``min_samples`` nearest clustered rows at a
    positive distance (a training row is not its own neighbour; a row whose every
    such neighbour is an exact copy scores 0), of its distance to that row divided
    by that row's core distance (at most its cluster's 90th percentile of them):
    below 1 the row lies inside some clustered row's core neighbourhood, as that
    row's neighbours do; the natural threshold is 1. A row HDBSCAN calls noise is
    not a reference, so it scores its distance to the clusters in their local
    units. HDBSCAN's members include the rows that fall out of a cluster as it
    thins; the cap keeps such a row's wide neighbourhood from vouching for rows
    near it, so it and they score high too. HDBSCAN is for rows in several
    clusters: on one blob it finds none, and then every sampled row is the
    reference.
    """

    natural = 1.0

    def __init__(
        self,
        *,
        min_cluster_size: int = 25,
        min_samples: int | None = None,
        max_samples: int = 10_000,
        random_state: int | None = None,
        contamination: float | None = None,
        threshold: float | None = None,
    ):
        super().__init__(contamination=contamination, threshold=threshold)
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.max_samples = max_samples
        self.random_state = random_state

    def _fit(self, X: Array) -> Array:
        from sklearn.cluster import HDBSCAN
        from sklearn.neighbors import KDTree

        sample = _sample(X, self.max_samples, self.random_state)
        size = max(2, min(self.min_cluster_size, len(sample)))
        k = max(1, min(self.min_samples or size, len(sample)))
        hdbscan = HDBSCAN(min_cluster_size=size, min_samples=k, copy=True, n_jobs=1)
        labels = np.asarray(hdbscan.fit(sample).labels_, dtype=np.int64)
        core = _kth_distances(sample, k)
        clustered = labels >= 0 if (labels >= 0).any() else np.ones(len(sample), dtype=bool)
        for cluster in np.unique(labels[clustered]):  # a thin edge vouches for no one
            members = clustered & (labels == cluster)
            core[members] = np.minimum(core[members], np.quantile(core[members], _EDGE))
        positive = core[core > 0]
        floor = float(positive.min()) if len(positive) else 1.0
        self.sample_labels_ = labels
        self.core_distances_ = np.maximum(core[clustered], floor)  # never divide by 0
        self.neighbours_ = int(min(k + 1, clustered.sum()))  # one more: a row itself
        self.tree_ = KDTree(sample[clustered])
        return self._score(X)

    def _score(self, X: Array) -> Array:
        distances, rows = self.tree_.query(X, k=self.neighbours_)
        ratios = np.where(distances > 0, distances / self.core_distances_[rows], np.inf)
        least = ratios.min(axis=1)
        return np.where(np.isfinite(least), least, 0.0).astype(np.float64)


class IsolationForestDetector(Detector):
    """scikit-learn's IsolationForest; the score is the paper's s = 2^(-E[h(x)] / c(n))
    in (0, 1] (``-score_samples``). Liu et al.: s near 1 is an anomaly, s well below
    0.5 normal; the natural threshold 0.5 is scikit-learn's ``contamination='auto'``."""

    natural = 0.5

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_samples: int | float | str = "auto",
        max_features: float = 1.0,
        random_state: int | None = None,
        contamination: float | None = None,
        threshold: float | None = None,
    ):
        super().__init__(contamination=contamination, threshold=threshold)
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_features = max_features
        self.random_state = random_state

    def _fit(self, X: Array) -> Array:
        from sklearn.ensemble import IsolationForest

        samples = self.max_samples
        if isinstance(samples, int) and not isinstance(samples, bool):
            # scikit-learn takes every row when asked for more, with a UserWarning per fit
            # (a search over a small table printed one per trial): the same forest, quietly
            samples = min(samples, len(X))
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=samples,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(X)
        return self._score(X)

    def _score(self, X: Array) -> Array:
        return -np.asarray(self.forest_.score_samples(X), dtype=np.float64)


class LOFDetector(Detector):
    """scikit-learn's LocalOutlierFactor in novelty mode; the score is the LOF
    (``-score_samples``): about 1 inside a cluster, larger the sparser a row's
    neighbourhood is than its neighbours'. The natural threshold 1.5 is
    scikit-learn's ``contamination='auto'`` offset. The training rows' scores
    (for ``contamination`` and ``train_flag_rate_``) are their own LOFs, which
    do not count a row as its own neighbour."""

    natural = 1.5

    def __init__(
        self,
        *,
        n_neighbors: int = 20,
        leaf_size: int = 30,
        contamination: float | None = None,
        threshold: float | None = None,
    ):
        super().__init__(contamination=contamination, threshold=threshold)
        self.n_neighbors = n_neighbors
        self.leaf_size = leaf_size

    def _fit(self, X: Array) -> Array:
        from sklearn.neighbors import LocalOutlierFactor

        lof = LocalOutlierFactor(
            n_neighbors=min(self.n_neighbors, len(X) - 1),
            algorithm="kd_tree",
            leaf_size=self.leaf_size,
            novelty=True,
            n_jobs=1,
        )
        self.lof_ = lof.fit(X)
        return -np.asarray(lof.negative_outlier_factor_, dtype=np.float64)

    def _score(self, X: Array) -> Array:
        return -np.asarray(self.lof_.score_samples(X), dtype=np.float64)


class RobustZDetector(Detector):
    """A rule per column; the row's score is its largest column score.

    ``rule="zscore"``: Iglewicz and Hoaglin's modified z-score,
    0.6745 (x - median) / MAD, absolute; natural threshold 3.5. ``rule="iqr"``:
    the distance outside [Q1, Q3] in IQRs (Tukey's fences); natural threshold 1.5.
    A column whose MAD (IQR) is 0, e.g. a one-hot indicator of a category in less
    than half the rows, is scaled by the mean absolute deviation from the median
    (x 1.2533 for the z-score, x 1.2533 x 1.349 = 1.6906 for the IQR: the same
    ratio as for a normal), so a category rarer than about 23% scores above 3.5;
    a constant column is skipped.
    """

    def __init__(
        self,
        *,
        rule: str = "zscore",
        contamination: float | None = None,
        threshold: float | None = None,
    ):
        super().__init__(contamination=contamination, threshold=threshold)
        self.rule = rule

    def _natural_threshold(self) -> float:
        return 1.5 if self.rule == "iqr" else 3.5

    def _fit(self, X: Array) -> Array:
        if self.rule not in ("zscore", "iqr"):
            raise ValueError(f"rule must be 'zscore' or 'iqr', got {self.rule!r}")
        if self.rule == "zscore":
            self.low_ = self.high_ = self.center_
            self.unit_ = self.scale_
        else:
            q1, q3 = np.quantile(X, [0.25, 0.75], axis=0)
            mean_ad = np.abs(X - self.center_).mean(axis=0) * _MEAN_AD_TO_SD * _SD_TO_IQR
            self.low_, self.high_, self.unit_ = q1, q3, np.where(q3 > q1, q3 - q1, mean_ad)
        return self._score(X)

    def _columns(self, X: Array) -> Array:
        kept = self.unit_ > 0
        outside = np.maximum(self.low_ - X, X - self.high_)[:, kept]
        out = np.zeros(X.shape, dtype=np.float64)
        out[:, kept] = np.maximum(outside, 0.0) / self.unit_[kept]
        return out

    def _score(self, X: Array) -> Array:
        columns = self._columns(X)
        return columns.max(axis=1) if columns.shape[1] else np.zeros(len(X))

    def column_scores(self, X: Any) -> Array:
        """(n, d): each value's score under the rule (0 for a column constant in training)."""
        return self._columns(self._validated(X))


def units_warning(flag_rate: float, detector: Any) -> str | None:
    """A warning when a DBSCAN detector given ``eps`` flags every training row or none
    (a flag rate of 0.5 or more, or 0): ``eps`` is probably in the wrong units; None
    otherwise. An ``eps`` chosen from the data is in the right units (on a table of a
    few hundred rows it may well flag none)."""
    if not isinstance(detector, DBSCANDetector) or detector.eps is None:
        return None
    if 0 < flag_rate < 0.5:
        return None
    eps = detector.eps_
    which = "too small" if flag_rate >= 0.5 else "too large"
    return (
        f"DBSCAN flagged {flag_rate:.1%} of the training rows with eps={eps:g}, which looks "
        f"{which}: eps is in standard deviations of the scaled features; the median "
        f"nearest-neighbour distance here is {detector.median_neighbour_distance_:.3g}. "
        "Try eps=None (chosen from the data), or an eps a few times that distance."
    )


def fit_warning(estimator: Any) -> str | None:
    """``units_warning`` for a fitted estimator of any kind (None when it is no detector)."""
    rate = getattr(estimator, "train_flag_rate_", None)
    return None if rate is None else units_warning(float(rate), estimator)
