"""Every MLflow tag mlfactory writes, by name: what a run, a version and a model carry.

Version tags, written when a version is registered::

    DECISION          champion | challenger | interrupted (the ledger marks an interrupted one)
    REASON            every gate check and the champion comparison, in words
    MODEL, METRIC     the catalog model chosen and the primary metric
    METRICS           JSON {metric: test value}
    DATA_FINGERPRINT, SPEC_SHA256, GIT_COMMIT, SEED, PACKAGES   lineage
    PACKAGE_DIGEST    SHA-256 of the model folder's digests.json (checked on every load)
    SIGNED_BY         the signing key's fingerprint, when the model is signed
    REGISTRATION      pending (JSON with its owner) until the first alias move, then complete
    FAMILY            a model family's shape, JSON {columns, groups, own}: absent for one model

and later: DRIFT (the latest monitoring summary, JSON), RETRAIN_CHECK (on the
champion: the latest retrain decision), RETRAIN_REASON (why a version was retrained).
Run tags: SPEC_SHA256 and DECISION. Registered-model tags: one per alias move,
``ALIAS_EVENT_PREFIX`` + a nanosecond time (the alias ledger).
"""

from __future__ import annotations

__all__ = [
    "ALIAS_EVENT_PREFIX",
    "DATA_FINGERPRINT",
    "DECISION",
    "DRIFT",
    "FAMILY",
    "GIT_COMMIT",
    "METRIC",
    "METRICS",
    "MODEL",
    "PACKAGES",
    "PACKAGE_DIGEST",
    "REASON",
    "REGISTRATION",
    "RETRAIN_CHECK",
    "RETRAIN_REASON",
    "SEED",
    "SIGNED_BY",
    "SPEC_SHA256",
]

DECISION = "mlfactory.decision"
REASON = "mlfactory.reason"
MODEL = "mlfactory.model"
METRIC = "mlfactory.metric"
METRICS = "mlfactory.metrics"
DATA_FINGERPRINT = "mlfactory.data_fingerprint"
SPEC_SHA256 = "mlfactory.spec_sha256"
GIT_COMMIT = "mlfactory.git_commit"
SEED = "mlfactory.seed"
PACKAGES = "mlfactory.packages"
PACKAGE_DIGEST = "mlfactory.package_sha256"
SIGNED_BY = "mlfactory.signed_by"
REGISTRATION = "mlfactory.registration"
DRIFT = "mlfactory.drift"
RETRAIN_CHECK = "mlfactory.retrain_check"
RETRAIN_REASON = "mlfactory.retrain_reason"
FAMILY = "mlfactory.family"
ALIAS_EVENT_PREFIX = "mlfactory.alias_event."
