"""Our weighted metrics agree with scikit-learn; bootstrap intervals behave; the table is open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from sklearn import metrics as skm

import mlfactory
from mlfactory.metrics import (
    METRICS,
    bootstrap_interval,
    compute,
    paired_bootstrap,
    register_metric,
)
from mlfactory.registry import Registry
from mlfactory.spec import parse_spec
from mlfactory.tasks import TASKS
from mlfactory.tasks.regression import Regression
from mlfactory.training import train

from conftest import mroz_spec

rng = np.random.default_rng(0)


def binary_case(n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    score = np.clip(0.3 * y + rng.normal(0.35, 0.25, n), 0, 1)
    score = np.round(score, 2)  # ties, as real models produce
    proba = np.column_stack([1 - score, score])
    return y, (score > 0.5).astype(int), proba


def test_binary_metrics_match_scikit_learn() -> None:
    y, pred, proba = binary_case()
    ours = compute(TASKS["classification"].metrics(2), y, pred, proba)
    assert ours["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), abs=1e-12)
    assert ours["pr_auc"] == pytest.approx(skm.average_precision_score(y, proba[:, 1]), abs=1e-12)
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-9)
    assert ours["brier"] == pytest.approx(skm.brier_score_loss(y, proba[:, 1]), abs=1e-12)
    assert ours["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)


@pytest.mark.parametrize("ties", [True, False])
def test_resampled_aucs_match_scikit_learn_with_sample_weights(ties: bool) -> None:
    """Each bootstrap row of counts scores like scikit-learn with those sample weights."""
    y = rng.integers(0, 2, 3000)
    score = np.clip(0.3 * y + rng.normal(0.35, 0.25, len(y)), 0, 1)
    score = np.round(score, 2) if ties else score
    order = np.argsort(score, kind="mergesort")  # the bootstrap's sorted fast path too
    counts = rng.poisson(1.0, size=(4, len(y))).astype(float)
    for idx in (np.arange(len(y)), order):
        proba = np.column_stack([1 - score[idx], score[idx]])
        w = counts[:, idx]
        roc = METRICS["roc_auc"].weighted(y[idx], y[idx], proba, w)
        ap = METRICS["pr_auc"].weighted(y[idx], y[idx], proba, w)
        for k in range(len(w)):
            expected_roc = skm.roc_auc_score(y[idx], score[idx], sample_weight=w[k])
            expected_ap = skm.average_precision_score(y[idx], score[idx], sample_weight=w[k])
            assert roc[k] == pytest.approx(expected_roc, abs=1e-12)
            assert ap[k] == pytest.approx(expected_ap, abs=1e-12)


def test_multiclass_metrics_match_scikit_learn() -> None:
    n, k = 1500, 3
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + np.eye(k)[y] * 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    ours = compute(TASKS["classification"].metrics(k), y, pred, proba)
    assert set(ours) == {"roc_auc", "log_loss", "f1", "accuracy"}
    assert ours["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-12
    )
    assert ours["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-9)
    assert ours["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-12)


def test_regression_metrics_match_scikit_learn() -> None:
    y = rng.normal(10, 3, 1000)
    pred = y + rng.normal(0, 1, 1000)
    ours = compute(TASKS["regression"].metrics(), y, pred, None)
    assert ours["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert ours["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert ours["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred))


def test_r2_holds_on_targets_far_from_0() -> None:
    """sum(w y^2) - n mean^2 cancelled to noise on targets near 1e12: the mean's r2 read 1."""
    y = 1e12 + rng.integers(0, 2, 1000).astype(float)
    mean = np.full(1000, y.mean())
    close = y + rng.normal(0, 0.1, 1000)
    ours = compute(TASKS["regression"].metrics(), y, mean, None)
    assert ours["r2"] == pytest.approx(0.0, abs=1e-6)
    assert compute(TASKS["regression"].metrics(), y, close, None)["r2"] == pytest.approx(
        skm.r2_score(y - 1e12, close - 1e12), abs=1e-6
    )


def test_mape_is_undefined_where_a_target_is_0_and_says_why() -> None:
    y, pred = np.array([0.0, 2.0, 4.0]), np.array([1.0, 2.0, 5.0])
    assert skm.mean_absolute_percentage_error(y, pred) > 1e14  # one 0: an absurd figure
    ours = compute(TASKS["regression"].metrics(), y, pred, None)
    assert np.isnan(ours["mape"]) and ours["mae"] == pytest.approx(2 / 3)
    why = TASKS["regression"].undefined(METRICS["mape"], y, None, "affairs")
    assert why == (
        "1 of the 3 labelled rows have affairs = 0; mape divides by the target (choose mae or rmse)"
    )
    assert TASKS["regression"].undefined(METRICS["mape"], y[1:], None, "affairs") is None


def test_weighted_scores_equal_scores_on_resampled_rows() -> None:
    y, pred, proba = binary_case(300)
    idx = rng.integers(0, 300, 300)
    weights = np.bincount(idx, minlength=300)[None, :].astype(float)
    for m in TASKS["classification"].metrics(2):
        direct = m.score(y[idx], pred[idx], proba[idx])
        assert m.weighted(y, pred, proba, weights)[0] == pytest.approx(direct, abs=1e-12), m.name


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_data() -> None:
    m = METRICS["roc_auc"]
    y, pred, proba = binary_case(400)
    low, high = bootstrap_interval(m, y, pred, proba, rounds=200, seed=1)
    assert low < m.score(y, pred, proba) < high
    y2, pred2, proba2 = binary_case(8000)
    low2, high2 = bootstrap_interval(m, y2, pred2, proba2, rounds=200, seed=1)
    assert (high2 - low2) < (high - low) / 2
    assert bootstrap_interval(m, y, pred, proba, rounds=200, seed=1) == (low, high)


def test_paired_bootstrap_sees_a_better_model_and_no_difference_for_the_same_one() -> None:
    m = METRICS["roc_auc"]
    y, pred, proba = binary_case(3000)
    same = paired_bootstrap(m, y, (pred, proba), (pred, proba), rounds=100, seed=0)
    assert same.improvement == 0 and same.low == 0 and same.high == 0
    noisy = np.clip(proba[:, 1] + rng.normal(0, 0.3, len(y)), 0, 1)
    worse = np.column_stack([1 - noisy, noisy])
    cmp = paired_bootstrap(m, y, (pred, proba), (pred, worse), rounds=100, seed=0)
    assert cmp.improvement > 0 and cmp.low > 0
    rmse = METRICS["rmse"]
    yr = rng.normal(size=500)
    better = paired_bootstrap(rmse, yr, (yr * 0.9, None), (yr * 0.5, None), rounds=50, seed=0)
    assert better.improvement > 0  # lower RMSE counts as an improvement


def test_resamples_come_in_blocks_of_bounded_size() -> None:
    from mlfactory.metrics.bootstrap import BLOCK_CELLS, _weight_blocks

    for n, rounds in [(1_000, 60), (300_000, 20)]:
        blocks = list(_weight_blocks(n, rounds, seed=0))
        assert sum(len(b) for b in blocks) == rounds  # every resample, once
        assert all(b.size <= max(BLOCK_CELLS, n) for b in blocks)
        assert all((b.sum(axis=1) == n).all() for b in blocks)  # n rows drawn per resample


MSE = """
    from mlfactory.metrics import register_metric, weighted_mean


    @register_metric("mse", greater_is_better=False)
    def mse(y, pred, proba, w):
        return weighted_mean((y.astype(float) - pred) ** 2, w)
"""


def test_a_metric_in_a_new_file_registers_itself_and_is_reported(
    plugin_module: Callable[..., ModuleType], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plugin_module(MSE, METRICS)
    monkeypatch.setattr(Regression, "metric_names", (*Regression.metric_names, "mse"))
    raw = mroz_spec(
        data={"target": "lwg"}, task="regression", gates={"min": {}, "max": {"mse": 10.0}}
    )
    raw["search"]["metric"] = "mse"
    registry = Registry(path=tmp_path / ".mlfactory")
    result = train(parse_spec(raw), registry=registry, progress=False)
    assert result.metric == "mse"
    test = result.evaluation.metrics
    assert test["mse"] == pytest.approx(test["rmse"] ** 2)
    low, high = result.evaluation.intervals["mse"]
    assert low < test["mse"] < high
    stored = mlfactory.load_model("mroz@champion", path=registry.path).manifest.metrics
    assert stored.test["mse"] == test["mse"] and "mse" in stored.test_ci95


def test_a_metric_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="metric 'rmse' is already registered"):
        register_metric("rmse", greater_is_better=False)(METRICS["mae"].function)
