"""The training report, built from real models' evaluations and decisions."""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlfactory.data.profile import profile_values
from mlfactory.metrics import METRICS, paired_bootstrap
from mlfactory.spec import GateSpec
from mlfactory.training.evaluate import Evaluation, evaluate
from mlfactory.training.gates import decide
from mlfactory.training.report import ReportInputs, write_report

ROUNDS = 50
PNG = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _fit(kind: str) -> dict[str, Any]:
    """A real model, the dummy baseline and a weaker rival, evaluated on held-out rows."""
    if kind == "regression":
        data = load_diabetes(as_frame=True)
        model, dummy = make_pipeline(StandardScaler(), Ridge()), DummyRegressor()
        n_classes, classes, metric = None, None, "rmse"
    else:
        data = load_breast_cancer(as_frame=True) if kind == "binary" else load_iris(as_frame=True)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        dummy = DummyClassifier(strategy="prior")
        classes = [str(c) for c in data.target_names]
        n_classes, metric = len(classes), "roc_auc"
    X, y = data.data, data.target.to_numpy()
    stratify = None if n_classes is None else y
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=stratify
    )
    task = "regression" if n_classes is None else "classification"

    def evaluation(estimator: Any, columns: list[str]) -> Evaluation:
        estimator.fit(X_train[columns], y_train)
        return evaluate(
            estimator,
            task=task,
            n_classes=n_classes,
            test=(X_test[columns], y_test),
            train=(X_train[columns], y_train),
            rounds=ROUNDS,
            seed=0,
        )

    columns = list(X.columns)
    chosen = evaluation(model, columns)
    scoring = "neg_root_mean_squared_error" if n_classes is None else "accuracy"
    shuffled = permutation_importance(
        model, X_test, y_test, scoring=scoring, n_repeats=2, random_state=0
    )
    return {
        "task": task,
        "metric": metric,
        "classes": classes,
        "evaluation": chosen,
        "baseline": evaluation(dummy, columns),
        "rival": evaluation(make_pipeline(StandardScaler(), type(model[-1])()), columns[:1]),
        "importance": dict(zip(columns, shuffled.importances_mean.tolist(), strict=True)),
        "frame": X_train,
    }


@pytest.fixture(scope="module")
def binary() -> dict[str, Any]:
    return _fit("binary")


def _inputs(fitted: dict[str, Any], gates: GateSpec | None = None, **change: Any) -> ReportInputs:
    evaluation, baseline = fitted["evaluation"], fitted["baseline"]
    metric = fitted["metric"]
    decision = decide(
        gates or GateSpec(min={metric: 0.5} if metric == "roc_auc" else {}),
        metric=metric,
        evaluation=evaluation,
        baseline=baseline,
        comparison=change.pop("comparison", None),
        champion_version=change.pop("champion_version", None),
    )
    frame = fitted["frame"]
    profile = {
        "rows": len(frame),
        "columns": {c: profile_values(frame[c], "numeric") for c in frame.columns[:5]},
    }
    inputs = ReportInputs(
        name="churn",
        task=fitted["task"],
        metric=metric,
        model="logistic_regression",
        params={"C": 1.0, "class_weight": None},
        evaluation=evaluation,
        baseline=baseline,
        decision=decision,
        candidates=[
            {
                "name": "dummy",
                "validation_score": 0.5,
                "trials": 1,
                "pruned": 0,
                "failed": 0,
                "params": {},
            },
            {
                "name": "logistic_regression",
                "validation_score": 0.99,
                "trials": 20,
                "pruned": 0,
                "failed": 1,
                "params": {"C": 1.0},
            },
        ],
        importance=fitted["importance"],
        profile=profile,
        data_summary={
            "read": 600,
            "dropped_missing_target": 31,
            "train": 400,
            "validation": 0,
            "test": len(evaluation.y_test),
            "split": {"method": "time", "boundaries": ("2024-01-01 00:00:00", "2024-06-01")},
        },
        lineage={
            "data_fingerprint": "ab" * 32,
            "spec_sha256": "cd" * 32,
            "git_commit": "",
            "seed": 7,
            "packages": {"python": "3.11.9", "scikit-learn": "1.9.1"},
            "created": "2025-01-02T03:04:05Z",
        },
        classes=fitted["classes"],
        version="3",
    )
    return dataclasses.replace(inputs, **change)


def _page(inputs: ReportInputs, tmp_path: Path) -> str:
    path = write_report(inputs, tmp_path / "reports" / "report.html")
    assert path.is_file()
    return path.read_text(encoding="utf-8")


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in PNG.findall(page)]


def test_classification_report_shows_decision_metrics_and_plots(
    binary: dict[str, Any], tmp_path: Path
) -> None:
    inputs = _inputs(binary)
    page = _page(inputs, tmp_path)

    assert "churn v3" in page
    assert "Promoted to champion" in page
    for check in inputs.decision.checks:
        assert html.escape(check.detail) in page
    for name, value in binary["evaluation"].metrics.items():
        low, high = binary["evaluation"].intervals[name]
        assert name in page
        assert f"{value:.4f}" in page
        assert f"[{low:.4f}, {high:.4f}]" in page
        assert f"{binary['baseline'].metrics[name]:.4f}" in page
    assert "primary</span>" in page
    # ROC, precision-recall, calibration, confusion matrix, importance: all real PNGs
    images = _images(page)
    assert len(images) == 5
    assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    for title in ("ROC curve", "Precision-recall curve", "Calibration", "Confusion matrix"):
        assert title in page


def test_held_back_model_says_which_gate_failed(binary: dict[str, Any], tmp_path: Path) -> None:
    page = _page(_inputs(binary, GateSpec(min={"accuracy": 0.9999})), tmp_path)

    assert "Held back as challenger" in page
    assert "Promoted to champion" not in page
    assert "✗ failed" in page
    assert "is below 0.9999" in page


def test_champion_comparison_shows_improvement_and_interval(
    binary: dict[str, Any], tmp_path: Path
) -> None:
    new, old = binary["evaluation"], binary["rival"]
    comparison = paired_bootstrap(
        METRICS["roc_auc"],
        new.y_test,
        (new.pred, new.proba),
        (old.pred, old.proba),
        rounds=ROUNDS,
        seed=0,
    )
    page = _page(_inputs(binary, comparison=comparison, champion_version="2"), tmp_path)

    assert "Against champion v2 on the same test rows" in page
    assert f"+{comparison.improvement:.4f}" in page
    assert f"CI {comparison.low:+.4f} to {comparison.high:+.4f}" in page


def test_regression_report_has_scatter_residuals_and_importance(tmp_path: Path) -> None:
    fitted = _fit("regression")
    page = _page(_inputs(fitted), tmp_path)

    for name, (low, high) in fitted["evaluation"].intervals.items():
        assert name in page
        assert f"[{low:.4f}, {high:.4f}]" in page
    assert "Predicted vs actual" in page
    assert "Residuals</b>" in page
    residual = fitted["evaluation"].y_test - fitted["evaluation"].pred
    assert f"standard deviation {residual.std():.4f}" in page
    # predicted vs actual, residuals (scatter beside histogram), importance
    assert len(_images(page)) == 3
    assert "ROC" not in page

    without = _page(_inputs(fitted, importance={}), tmp_path)
    assert len(_images(without)) == 2
    assert "No feature importance was computed" in without


def test_multiclass_report_names_the_classes(tmp_path: Path) -> None:
    fitted = _fit("multiclass")
    page = _page(_inputs(fitted), tmp_path)

    # one-vs-rest ROC, calibration of the predicted class, confusion matrix, importance
    assert len(_images(page)) == 4
    assert "Calibration of the predicted class" in page
    assert "Precision-recall" not in page
    assert "pr_auc" not in page


def test_report_is_self_contained_and_small(binary: dict[str, Any], tmp_path: Path) -> None:
    page = _page(_inputs(binary), tmp_path)

    assert not re.search(r"https?://", page)
    assert "<script" not in page
    assert "<link" not in page
    assert "url(" not in page
    assert len(page.encode()) < 500_000


def test_data_summary_profile_and_lineage_are_listed(
    binary: dict[str, Any], tmp_path: Path
) -> None:
    frame = pd.DataFrame({"plan": ["basic"] * 6 + ["pro"] * 3 + [None], "age": np.arange(10.0)})
    profile = {
        "rows": 10,
        "columns": {
            "plan": profile_values(frame["plan"], "categorical"),
            "age": profile_values(frame["age"], "numeric"),
        },
    }
    page = _page(_inputs(binary, profile=profile), tmp_path)

    assert "<th>Rows read</th><td>600</td>" in page
    assert "<th>Dropped (missing target)</th><td>31</td>" in page
    assert "<th>Test</th><td>171 (29.9%)</td>" in page
    assert "validation from 2024-01-01 00:00:00, test from 2024-06-01" in page
    assert "basic (66.7%)" in page  # share of the 9 present values
    assert "10.0%" in page  # plan's missing rate
    assert "mean 4.5 ± 2.872 · min 0 · max 9" in page
    assert "ab" * 32 in page and "cd" * 32 in page
    assert "scikit-learn <code>1.9.1</code>" in page
    assert "not recorded" in page  # no git commit
    # the search table lists the best validation score first and marks the chosen model
    search = page[page.index('<section id="search">') :]
    assert search.index("logistic_regression <span") < search.index(">dummy<")
    assert 'logistic_regression <span class="badge">chosen</span>' in search


def test_text_from_names_and_data_is_escaped(binary: dict[str, Any], tmp_path: Path) -> None:
    frame = pd.DataFrame({"<i>col</i>": ["<b>bold</b>", "x", "x"]})
    profile = {
        "rows": 3,
        "columns": {"<i>col</i>": profile_values(frame["<i>col</i>"], "categorical")},
    }
    inputs = _inputs(
        binary,
        name="<script>alert(1)</script>",
        model="<img src=x onerror=alert(1)>",
        profile=profile,
        importance={"<i>col</i>": 0.1},
    )
    page = _page(inputs, tmp_path)

    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<i>col</i>" not in page
