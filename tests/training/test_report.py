"""The training report, built from real models' evaluations and decisions."""

from __future__ import annotations

import dataclasses
import html
import re
import xml.etree.ElementTree as ET
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

from mlfactory.charts import BLUE
from mlfactory.data.profile import profile_values
from mlfactory.metrics import METRICS, paired_bootstrap
from mlfactory.spec import GateSpec
from mlfactory.tasks import TASKS
from mlfactory.training.evaluate import Evaluation, evaluate
from mlfactory.training.gates import decide
from mlfactory.training.report import MAX_FEATURES, ReportInputs, write_report

ROUNDS = 50
CHART = re.compile(r'(<svg [^>]*role="img".*?</svg>)<figcaption>', re.S)  # inline, then caption


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
    task = TASKS["regression" if n_classes is None else "classification"]

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


def _charts(page: str) -> dict[str, ET.Element]:
    """Each inline chart, parsed as XML, by its accessible label (the figure's title)."""
    charts = [ET.fromstring(svg) for svg in CHART.findall(page)]
    return {chart.get("aria-label") or "": chart for chart in charts}


def _texts(chart: ET.Element) -> list[str]:
    return ["\n".join(text.itertext()) for text in chart.iter("text")]


def _points(path: ET.Element) -> int:
    """How many vertices a path drawn with relative moves has."""
    d = path.get("d") or ""
    return 1 + len(re.findall(r"-?[\d.]+", d.partition("l")[2])) // 2


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
    charts = _charts(page)
    assert list(charts) == [
        "ROC curve", "Precision-recall curve", "Calibration", "Confusion matrix",
        "Permutation importance",
    ]  # fmt: skip
    roc = charts["ROC curve"]
    curve = max((p for p in roc.iter("path") if p.get("stroke") == BLUE), key=_points)
    assert _points(curve) > 10
    assert any(re.fullmatch(r"model \(AUC 0\.9\d\d\)", t) for t in _texts(roc))
    assert {"false positive rate", "true positive rate", "chance", "0.0", "1.0"} <= set(_texts(roc))
    # the confusion matrix shows each count with its share of the actual class
    y, hard = np.asarray(inputs.evaluation.y_test), inputs.evaluation.proba.argmax(axis=1)
    counts = np.bincount(2 * y + hard, minlength=4).reshape(2, 2)
    shown = _texts(charts["Confusion matrix"])
    for row in counts:
        for count in row:
            assert f"{count:,}\n{count / row.sum():.0%}" in shown
    assert "share of actual class" in shown and "100%" in shown
    assert len(list(charts["Calibration"].iter("circle"))) >= 5  # a marker per filled bin
    importance = binary["importance"]
    top = sorted(importance, key=importance.get, reverse=True)[:MAX_FEATURES]
    assert set(_texts(charts["Permutation importance"])) >= set(top)


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
    charts = _charts(page)
    assert list(charts) == ["Predicted vs actual", "Residuals", "Permutation importance"]
    n_test = len(fitted["evaluation"].y_test)
    scatter = charts["Predicted vs actual"]
    assert 0.5 * n_test < len(list(scatter.iter("circle"))) <= n_test  # dots on one spot merge
    assert {"actual", "predicted", "perfect prediction"} <= set(_texts(scatter))
    residuals = charts["Residuals"]  # the scatter beside the histogram of all residuals
    assert len(list(residuals.iter("circle"))) > 0.5 * n_test
    assert len(list(residuals.iter("rect"))) == 40
    assert {"residual (actual − predicted)", "rows"} <= set(_texts(residuals))
    assert "ROC" not in page

    without = _page(_inputs(fitted, importance={}), tmp_path)
    assert list(_charts(without)) == ["Predicted vs actual", "Residuals"]
    assert "No feature importance was computed" in without


def test_multiclass_report_names_the_classes(tmp_path: Path) -> None:
    fitted = _fit("multiclass")
    page = _page(_inputs(fitted), tmp_path)

    charts = _charts(page)
    assert list(charts) == [
        "ROC curves", "Calibration of the predicted class", "Confusion matrix",
        "Permutation importance",
    ]  # fmt: skip
    legend = _texts(charts["ROC curves"])
    for name in fitted["classes"]:  # one-vs-rest, a curve per class
        assert any(t.startswith(f"{name} (AUC ") for t in legend)
    assert set(fitted["classes"]) <= set(_texts(charts["Confusion matrix"]))
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
    assert "<i>col</i>" in _texts(_charts(page)["Permutation importance"])  # as text, parsed


def test_the_search_says_how_many_trials_ran_were_pruned_or_failed_and_which_won(
    binary: dict[str, Any], tmp_path: Path
) -> None:
    candidates = [
        {
            "name": "linear",
            "validation_score": 0.8,
            "trials": 12,
            "pruned": 0,
            "failed": 0,
            "best_trial": 7,
            "params": {"C": 0.5},
        },
        {
            "name": "lightgbm",
            "validation_score": 0.9,
            "trials": 9,
            "pruned": 2,
            "failed": 1,
            "best_trial": 0,
            "params": {"n_estimators": 60},
        },
    ]
    page = _page(_inputs(binary, model="lightgbm", candidates=candidates), tmp_path)
    search = page[page.index('<section id="search">') : page.index('<section id="data">')]

    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", search)
    cells = [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in rows
    ]
    assert cells[0][2:6] == ["Trials run", "Pruned", "Failed", "Won by"]
    assert cells[1][2:6] == ["12", "2", "1", "trial 0: library defaults"]  # chosen, first
    assert cells[1][6] == "library defaults + n_estimators=60"
    assert cells[2][2:6] == ["12", "0", "0", "trial 7"]
    assert (
        "<b>lightgbm</b>: 12 trials ran, 2 were pruned, 1 failed; trial 0, the library "
        "defaults, won." in search
    )
    assert "<b>linear</b>: 12 trials ran, 0 were pruned, 0 failed; trial 7 won." in search
