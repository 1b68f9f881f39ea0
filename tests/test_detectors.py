"""The anomaly detectors: one contract (higher score = more anomalous, a threshold from
contamination, threshold or the detector's own), and each detector's scorer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from mlfactory.detectors import (
    DBSCANDetector,
    Detector,
    HDBSCANDetector,
    IsolationForestDetector,
    LOFDetector,
    RobustZDetector,
    units_warning,
)
from mlfactory.registry.safeload import load_pipeline

DETECTORS: dict[str, Any] = {
    "dbscan": lambda **kw: DBSCANDetector(random_state=0, **kw),
    "hdbscan": lambda **kw: HDBSCANDetector(random_state=0, **kw),
    "isolation_forest": lambda **kw: IsolationForestDetector(random_state=0, **kw),
    "lof": lambda **kw: LOFDetector(**kw),
    "robust_z": lambda **kw: RobustZDetector(**kw),
    "iqr": lambda **kw: RobustZDetector(rule="iqr", **kw),
}
NATURAL = {
    "hdbscan": 1.0,
    "isolation_forest": 0.5,
    "lof": 1.5,
    "robust_z": 3.5,
    "iqr": 1.5,
}


def _planted(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated Gaussian clusters, and 1% of rows moved 6 sd off them (label 1)."""
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.5], [0.3, 0.5, 1.0]])
    X = rng.multivariate_normal(np.zeros(3), cov, n)
    X[n // 2 :] += 20.0
    labels = np.zeros(n, dtype=np.int64)
    planted = rng.choice(n, n // 100, replace=False)
    X[planted] += rng.choice([-6.0, 6.0], (len(planted), 3))
    labels[planted] = 1
    return X, labels


@pytest.mark.parametrize("name", DETECTORS)
def test_each_detector_passes_scikit_learn_estimator_checks(name: str) -> None:
    check_estimator(DETECTORS[name]())


@pytest.mark.parametrize("name", DETECTORS)
def test_planted_anomalies_score_higher_and_far_rows_are_flagged(name: str) -> None:
    X, _ = _planted()
    new, new_labels = _planted(seed=1)
    detector = DETECTORS[name]().fit(X)
    scores = detector.score_samples(new)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    # higher = more anomalous: most planted rows outrank every-but-a-few inliers
    assert np.median(scores[new_labels == 1]) > np.quantile(scores[new_labels == 0], 0.9)
    far = np.full((2, 3), 1000.0)
    far[1] *= -1
    assert detector.predict(far).tolist() == [1, 1]
    flags = detector.predict(new)
    assert flags.dtype == np.int64
    assert np.array_equal(flags, (scores > detector.threshold_).astype(np.int64))


@pytest.mark.parametrize("name", DETECTORS)
def test_threshold_comes_from_threshold_contamination_or_the_detector(name: str) -> None:
    X, _ = _planted()
    given = DETECTORS[name](threshold=2.5).fit(X)
    assert given.threshold_ == 2.5
    assert given.train_flag_rate_ == np.mean(given.predict(X))
    share = DETECTORS[name](contamination=0.05).fit(X)
    if name == "dbscan":  # core points all score 0: it flags at most the others
        assert 0 < share.train_flag_rate_ <= 0.05 and share.threshold_ == 0.0
    else:
        assert 0.045 <= share.train_flag_rate_ <= 0.05
    if name in NATURAL:
        assert DETECTORS[name]().fit(X).threshold_ == NATURAL[name]
    else:  # DBSCAN's is its eps
        auto = DETECTORS[name]().fit(X)
        assert auto.threshold_ == auto.eps_
    with pytest.raises(ValueError, match="give one of them"):
        DETECTORS[name](contamination=0.05, threshold=2.5).fit(X)
    with pytest.raises(ValueError, match=r"between 0 and 0\.5"):
        DETECTORS[name](contamination=0.5).fit(X)


@pytest.mark.parametrize("name", DETECTORS)
def test_a_seeded_detector_is_deterministic(name: str) -> None:
    X, _ = _planted()
    new, _ = _planted(seed=1)
    first = DETECTORS[name](contamination=0.02).fit(X)
    again = DETECTORS[name](contamination=0.02).fit(X)
    assert np.array_equal(first.score_samples(new), again.score_samples(new))
    assert first.threshold_ == again.threshold_


@pytest.mark.parametrize("eps", [None, 0.4])
def test_dbscan_flags_exactly_the_training_rows_dbscan_calls_noise(eps: float | None) -> None:
    from sklearn.cluster import DBSCAN

    X, _ = _planted()
    detector = DBSCANDetector(eps=eps, min_samples=8).fit(X)
    noise = DBSCAN(eps=detector.eps_, min_samples=8).fit(X).labels_ == -1
    assert noise.any() and not noise.all()
    assert np.array_equal(detector.predict(X), noise.astype(np.int64))
    assert detector.train_flag_rate_ == noise.mean()


def test_dbscan_samples_at_most_max_samples_rows_and_scores_them_as_dbscan_did() -> None:
    X, _ = _planted(n=3000)
    detector = DBSCANDetector(max_samples=1000, random_state=3).fit(X)
    assert len(detector.sample_labels_) == 1000
    rows = np.sort(np.random.RandomState(3).choice(3000, 1000, replace=False))
    assert np.array_equal(detector.predict(X[rows]), (detector.sample_labels_ == -1))


def test_dbscan_auto_eps_flags_a_small_share() -> None:
    X, labels = _planted()
    detector = DBSCANDetector().fit(X)
    assert 0.001 <= detector.train_flag_rate_ <= 0.05
    assert detector.predict(X)[labels == 1].mean() > 0.9


def test_dbscan_eps_in_the_wrong_units_is_warned_about() -> None:
    X, _ = _planted()
    tiny = DBSCANDetector(eps=1e-4).fit(X)
    message = units_warning(tiny.train_flag_rate_, tiny)
    assert tiny.train_flag_rate_ == 1.0 and message is not None
    assert "100.0% of the training rows with eps=0.0001" in message
    assert f"nearest-neighbour distance here is {tiny.median_neighbour_distance_:.3g}" in message
    assert np.isfinite(tiny.score_samples(X)).all()  # no core point, still a finite score
    huge = DBSCANDetector(eps=1e4).fit(X)
    message = units_warning(huge.train_flag_rate_, huge)
    assert message is not None and "0.0% of the training rows with eps=10000" in message
    assert "too large" in message
    auto = DBSCANDetector().fit(X)
    assert units_warning(auto.train_flag_rate_, auto) is None
    few = DBSCANDetector().fit(X[:40])  # eps from the data: right units, even flagging none
    assert few.train_flag_rate_ == 0.0 and units_warning(0.0, few) is None
    forest = IsolationForestDetector(random_state=0).fit(X)
    assert units_warning(0.0, forest) is None  # only DBSCAN has an eps


def test_hdbscan_scores_its_noise_above_its_clustered_rows() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(700, 3)), rng.normal(size=(700, 3)) + 8.0])
    X[::100] += rng.choice([-6.0, 6.0], (14, 3))  # between or beside the two clusters
    detector = HDBSCANDetector(min_cluster_size=25).fit(X)
    noise = detector.sample_labels_ == -1
    scores = detector.score_samples(X)
    assert 5 <= noise.sum() <= 30
    assert np.median(scores[noise]) > np.quantile(scores[~noise], 0.99)
    assert detector.predict(X)[noise].mean() > 0.8 and detector.train_flag_rate_ < 0.03
    detector = HDBSCANDetector(min_cluster_size=25).fit(_planted()[0])
    new, new_labels = _planted(seed=1)  # new rows: the planted ones beyond the threshold
    flags = detector.predict(new)
    assert flags[new_labels == 1].mean() > 0.8 and flags[new_labels == 0].mean() < 0.05


def test_robust_z_skips_constant_columns_and_scales_one_hot_columns_by_mean_deviation() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    onehot = (np.arange(n) < 100).astype(float)  # 10% of rows: the MAD is 0
    X = np.column_stack([rng.normal(size=n), onehot, np.full(n, 7.0)])
    detector = RobustZDetector().fit(X)
    mean_ad = 0.1 * 1.0 * 1.2533  # mean |x - median| = 0.1, scaled to a normal's sd
    columns = detector.column_scores(np.array([[0.0, 1.0, 9.0]]))
    assert columns[0, 1] == pytest.approx(1.0 / mean_ad)  # above 3.5: a 10% category
    assert columns[0, 2] == 0.0  # constant in training: skipped
    assert detector.score_samples(np.array([[0.0, 0.0, 1e6]]))[0] < 1.0
    iqr = RobustZDetector(rule="iqr").fit(X)
    assert iqr.column_scores(np.array([[0.0, 1.0, 9.0]]))[0, 1] == pytest.approx(
        1.0 / (mean_ad * 1.349)
    )
    q1, q3 = np.quantile(X[:, 0], [0.25, 0.75])
    assert iqr.score_samples(np.array([[q3 + 3 * (q3 - q1), 0.0, 7.0]]))[0] == pytest.approx(3.0)


def test_column_scores_name_the_unusual_column_for_any_detector() -> None:
    X, _ = _planted()
    detector = IsolationForestDetector(random_state=0).fit(X)
    row = np.median(X, axis=0, keepdims=True)
    row[0, 2] += 40.0
    assert int(np.argmax(detector.column_scores(row)[0])) == 2


@pytest.mark.parametrize("name", DETECTORS)
def test_a_fitted_detector_in_a_pipeline_loads_through_the_allow_list(
    name: str, tmp_path: Path
) -> None:
    X, _ = _planted()
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("model", DETECTORS[name](contamination=0.01))]
    ).fit(X)
    new, _ = _planted(seed=1)
    scores = pipeline[-1].score_samples(pipeline[:-1].transform(new))
    sio.dump(pipeline, tmp_path / "pipeline.skops")
    loaded = load_pipeline(tmp_path / "pipeline.skops", shown_as="pipeline.skops")
    assert isinstance(loaded[-1], Detector)
    assert np.array_equal(loaded[-1].score_samples(loaded[:-1].transform(new)), scores)
    assert np.array_equal(loaded.predict(new), pipeline.predict(new))


def test_an_isolation_forest_asked_for_more_samples_than_rows_takes_them_all_quietly() -> None:
    """The search samples max_samples up to 2048; on a 91-row table scikit-learn warned
    once per trial. Every row is the same forest, without the warning."""
    import warnings

    X, _ = _planted()
    small = X[:91]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asked = IsolationForestDetector(max_samples=1726, random_state=0).fit(small)
    every = IsolationForestDetector(max_samples=91, random_state=0).fit(small)
    assert np.array_equal(asked.score_samples(X), every.score_samples(X))
