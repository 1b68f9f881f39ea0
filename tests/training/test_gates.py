"""Gates: each check passes or fails with a reason a person can act on."""

from __future__ import annotations

from mlfactory.metrics import PairedComparison
from mlfactory.spec import GateSpec
from mlfactory.training.evaluate import Evaluation
from mlfactory.training.gates import decide


def ev(test: float, train: float) -> Evaluation:
    return Evaluation({"roc_auc": test}, {}, {"roc_auc": train}, None, None, None)


def comparison(low: float) -> PairedComparison:
    return PairedComparison("roc_auc", 0.80, 0.78, 0.02, low, low + 0.03)


def test_all_gates_pass() -> None:
    gates = GateSpec(min={"roc_auc": 0.7}, max_train_test_gap=0.1, champion_margin=0.0)
    decision = decide(
        gates,
        metric="roc_auc",
        evaluation=ev(0.80, 0.85),
        baseline=ev(0.5, 0.5),
        comparison=comparison(0.005),
        champion_version="4",
    )
    assert decision.promoted and decision.alias == "champion"
    assert decision.reason.startswith("promoted: test roc_auc 0.8000 ≥ 0.7")
    assert "vs champion v4's 0.7800: improvement +0.0200 [95% CI +0.0050" in decision.reason


def test_each_failure_is_named() -> None:
    gates = GateSpec(min={"roc_auc": 0.9}, max_train_test_gap=0.05, champion_margin=0.01)
    decision = decide(
        gates,
        metric="roc_auc",
        evaluation=ev(0.55, 0.95),
        baseline=ev(0.6, 0.6),
        comparison=comparison(0.005),
        champion_version="2",
    )
    assert not decision.promoted and decision.alias == "challenger"
    failed = [c.name for c in decision.checks if not c.passed]
    assert failed == ["min roc_auc", "train-test gap", "beats baseline", "beats champion"]
    assert "test roc_auc 0.5500 is below 0.9" in decision.reason
    assert "does not beat the dummy baseline's 0.6000" in decision.reason
    assert "lower bound not above margin 0.01" in decision.reason


def test_the_baseline_chosen_says_how_to_promote_it() -> None:
    """fpp3's aus_arrivals: the seasonal naive backtests best, so it is chosen, and cannot
    beat itself; the check says so, and what lets it be champion."""
    mase = Evaluation({"mase": 0.7182}, {}, {"mase": 0.8771}, None, None, None)
    decision = decide(
        GateSpec(max={"mase": 2.0}),
        metric="mase",
        evaluation=mase,
        baseline=Evaluation({"mase": 0.7182}, {}, {"mase": 0.8771}, None, None, None),
        comparison=None,
        champion_version=None,
        baseline_name="seasonal naive baseline",
    )
    assert not decision.promoted
    assert (
        "mase 0.7182 does not beat the seasonal naive baseline's 0.7182; it is the baseline's "
        "own answer (no candidate beat it before the test): gates.beat_baseline: false lets it "
        "be champion"
    ) in decision.reason


def test_error_metrics_use_max_and_lower_is_better() -> None:
    evaluation = Evaluation({"rmse": 12.0}, {}, {"rmse": 10.0}, None, None, None)
    baseline = Evaluation({"rmse": 20.0}, {}, {"rmse": 20.0}, None, None, None)
    decision = decide(
        GateSpec(max={"rmse": 15.0}, max_train_test_gap=1.0),
        metric="rmse",
        evaluation=evaluation,
        baseline=baseline,
        comparison=None,
        champion_version=None,
    )
    failed = [c.detail for c in decision.checks if not c.passed]
    assert failed == ["train-test rmse gap 2.0000 exceeds 1"]
    assert any(
        "rmse 12.0000 beats the dummy baseline's 20.0000" in c.detail for c in decision.checks
    )


def test_a_gate_on_a_metric_the_test_rows_cannot_compute_fails_saying_so() -> None:
    scores = {"rmse": 3.0, "mape": float("nan")}  # mape: a target of 0 among the test rows
    evaluation = Evaluation(scores, {}, scores, None, None, None)
    decision = decide(
        GateSpec(max={"mape": 0.5}),
        metric="rmse",
        evaluation=evaluation,
        baseline=Evaluation({"rmse": 4.0}, {}, {"rmse": 4.0}, None, None, None),
        comparison=None,
        champion_version=None,
    )
    assert not decision.promoted
    [failed] = [c.detail for c in decision.checks if not c.passed]
    assert failed.startswith("test mape cannot be computed on the test rows")
