"""The multivariate drift check: can a classifier tell current rows from reference rows?

A LightGBM classifier learns to separate a sample of the training rows (stored
in the model package) from a sample of the current rows; its cross-validated
ROC AUC says how far apart the two are as a whole, including changes that no
single column shows (a new mix of values that were each common before). Near
0.5 nothing separates them; above ``THRESHOLD`` the data drifted. The split
gain of each feature says which columns separate them.

With 5,000 rows a side, the AUC of two samples of one population stays within
about 0.01 of 0.5, so the threshold of 0.55 does not alarm on noise.

An AUC well below 0.5 comes from current rows that repeat training rows (a
check run on data that includes the training data): cross-validation holds out
each copy while its twin is learned with the other label, so the copies are
scored the wrong way round. ``DomainResult.overlap`` counts them and ``note``
says so in words, so nobody reads 0.2 as a broken check or as drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MIN_ROWS_PER_SIDE", "THRESHOLD", "DomainResult", "domain_classifier"]

THRESHOLD = 0.55
ROWS_PER_SIDE = 5000
MIN_ROWS_PER_SIDE = 100
FOLDS = 5
OVERLAP = 0.05  # repeated rows that explain an AUC below 0.5


@dataclass
class DomainResult:
    """Cross-validated ROC AUC of reference-vs-current; ``importance`` sums to 1."""

    auc: float
    auc_std: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    importance: dict[str, float] = field(default_factory=dict)  # largest first
    overlap: float = 0.0  # share of the sampled current rows equal to a sampled reference row

    @property
    def note(self) -> str:
        """What an AUC below 0.5 means, in words ("" at 0.5 and above)."""
        if self.auc >= 0.5:
            return ""
        if self.overlap >= OVERLAP:
            return (
                f"below 0.5 because {self.overlap:.0%} of the sampled current rows repeat "
                "training rows: each copy is held out while its twin is learned as a training "
                "row, so the copies are scored the wrong way round. The current data overlaps "
                "the training data; that is no drift"
            )
        return "below 0.5 is chance: nothing tells the current rows from training rows"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"note": self.note}


def domain_classifier(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: dict[str, str],
    *,
    rows: int = ROWS_PER_SIDE,
    threshold: float = THRESHOLD,
    seed: int = 0,
) -> DomainResult | None:
    """Separate ``reference`` from ``current`` on the columns of ``kinds`` (name -> kind).

    Numeric, categorical and ordinal columns are used (an ordinal one as its levels'
    text); datetime columns are left out (time always separates past from present).
    Returns None when either side has fewer than ``MIN_ROWS_PER_SIDE`` rows or no
    column is usable.
    """
    import lightgbm as lgb
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from mlfactory.data.schema import ordinal_texts

    usable = [
        c
        for c, kind in kinds.items()
        if kind in ("numeric", "categorical", "ordinal")
        and c in reference.columns
        and c in current.columns
    ]
    n = min(rows, len(reference), len(current))
    if n < MIN_ROWS_PER_SIDE or not usable:
        return None
    rng = np.random.default_rng(seed)
    ref = reference[usable].iloc[rng.choice(len(reference), n, replace=False)]
    cur = current[usable].iloc[rng.choice(len(current), n, replace=False)]
    both = pd.concat([ref, cur], ignore_index=True)
    X = pd.DataFrame(index=both.index)
    for i, c in enumerate(usable):  # named by position: LightGBM refuses '[', ':', '"' in names
        if kinds[c] == "numeric":
            X[f"f{i}"] = pd.to_numeric(both[c], errors="coerce").astype(float)
        elif kinds[c] == "ordinal":  # the reference rows hold the schema's text: 1.0 reads "1"
            X[f"f{i}"] = ordinal_texts(both[c]).astype("category")
        else:
            X[f"f{i}"] = both[c].astype(str).where(both[c].notna()).astype("category")
    y = np.r_[np.zeros(n), np.ones(n)]
    hashed = pd.util.hash_pandas_object(X, index=False).to_numpy()  # one hash per row
    overlap = float(np.isin(hashed[n:], hashed[:n]).mean())

    scores = np.zeros(len(y))
    fold_aucs: list[float] = []
    gain = np.zeros(len(usable))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for fit, held in folds.split(X, y):
        model = lgb.LGBMClassifier(
            n_estimators=100,
            learning_rate=0.1,
            num_leaves=15,
            min_child_samples=20,
            subsample_freq=0,
            n_jobs=1,
            random_state=seed,
            verbose=-1,
        )
        model.fit(X.iloc[fit], y[fit])
        scores[held] = np.asarray(model.predict_proba(X.iloc[held]))[:, 1]
        fold_aucs.append(float(roc_auc_score(y[held], scores[held])))
        gain += model.booster_.feature_importance(importance_type="gain")
    auc = float(roc_auc_score(y, scores))
    total = gain.sum()
    shares = gain / total if total > 0 else gain
    order = np.argsort(-shares, kind="stable")
    return DomainResult(
        auc=auc,
        auc_std=float(np.std(fold_aucs)),
        threshold=threshold,
        drifted=auc > threshold,
        n_reference=n,
        n_current=n,
        importance={usable[i]: float(shares[i]) for i in order},
        overlap=overlap,
    )
