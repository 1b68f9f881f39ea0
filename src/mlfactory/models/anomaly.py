"""Anomaly detectors (``task: anomaly``): DBSCAN, HDBSCAN, isolation forest, LOF and
the per-column rules, each on scaled inputs, offering the ``detector`` kind only.

The estimators are ``mlfactory.detectors`` classes (higher score = more
anomalous, 0/1 flags). ``params`` may hold ``contamination`` or ``threshold``,
which every detector takes. ``robust_z`` and ``iqr`` are two entries of one class
(its ``rule``), so a spec names the rule it means; they have nothing to tune.
"""

from __future__ import annotations

from typing import Any

from mlfactory.models.base import Builder, CatalogEntry, SearchRange, register_model

__all__: list[str] = []


def _detector(name: str, seeded: bool, **defaults: Any) -> Builder:
    def build(params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        from mlfactory import detectors

        base: dict[str, Any] = {"random_state": seed} if seeded else {}
        return getattr(detectors, name)(**{**base, **defaults, **params})

    return build


register_model(
    CatalogEntry(
        "dbscan",
        "scaled",
        {"detector": _detector("DBSCANDetector", seeded=True)},
        {
            "detector": {
                "min_samples": SearchRange(low=3, high=50, log=True, type="int"),
                # eps from the data: the share of sampled rows that are core points
                "eps_quantile": SearchRange(low=0.9, high=0.999),
            }
        },
    )
)

register_model(
    CatalogEntry(
        "hdbscan",
        "scaled",
        {"detector": _detector("HDBSCANDetector", seeded=True)},
        {
            "detector": {
                "min_cluster_size": SearchRange(low=5, high=200, log=True, type="int"),
                "min_samples": SearchRange(low=2, high=50, log=True, type="int"),
            }
        },
    )
)

register_model(
    CatalogEntry(
        "isolation_forest",
        "scaled",
        {"detector": _detector("IsolationForestDetector", seeded=True)},
        {
            "detector": {
                "n_estimators": SearchRange(low=50, high=400, log=True, type="int"),
                "max_samples": SearchRange(low=64, high=2048, log=True, type="int"),
                "max_features": SearchRange(low=0.5, high=1.0),
            }
        },
    )
)

register_model(
    CatalogEntry(
        "lof",
        "scaled",
        {"detector": _detector("LOFDetector", seeded=False)},
        {"detector": {"n_neighbors": SearchRange(low=5, high=100, log=True, type="int")}},
    )
)

register_model(
    CatalogEntry(
        "robust_z", "scaled", {"detector": _detector("RobustZDetector", False, rule="zscore")}
    )
)

register_model(
    CatalogEntry("iqr", "scaled", {"detector": _detector("RobustZDetector", False, rule="iqr")})
)
