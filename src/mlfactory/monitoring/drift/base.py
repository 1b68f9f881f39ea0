"""What a drift check produces, and the table of per-kind drift tests.

A ``DriftTest`` checks the columns of one kind (the reference profile's ``kind``:
``numeric``, ``categorical``); ``register_drift_test`` adds one to ``DRIFT_TESTS``,
where ``check_drift`` finds it. A kind without a test is not checked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DRIFT_TESTS",
    "PLOTTED_CATEGORIES",
    "REST",
    "ColumnDrift",
    "DriftResult",
    "DriftTest",
    "register_drift_test",
]

PLOTTED_CATEGORIES = 20  # categories kept in ColumnDrift.distribution; then REST
REST = "(the rest)"  # the distribution's last cell: every category not shown


@dataclass
class ColumnDrift:
    """One column's verdict. ``p_value`` is Benjamini-Hochberg adjusted (None: no test)."""

    column: str
    kind: str
    test: str
    statistic: float
    effect: float
    threshold: float
    p_value: float | None
    drifted: bool
    detail: str
    # What a plot needs, as shares (no rows): numeric ``edges`` with ``reference`` and
    # ``current`` shares per bin plus ``below``/``above`` the training range (current
    # only); categorical ``categories`` (the largest, then REST) with both shares.
    distribution: dict[str, Any] = field(default_factory=dict)


@dataclass
class DriftResult:
    """Columns sorted by effect relative to threshold, largest first."""

    columns: list[ColumnDrift]
    drifted: bool
    share: float
    n_reference: int
    n_current: int
    quality: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DriftTest(ABC):
    """How the columns of one kind are tested: a p-value and an effect size.

    ``check_drift`` calls ``prepare`` on every column of the kind before testing any
    (problems there stop the whole check, all listed), then ``check`` on each
    column's present values. It adjusts the p-values across columns afterwards and
    sets ``ColumnDrift.p_value`` and ``drifted``: a column drifts when the adjusted
    p is below alpha and ``effect`` exceeds ``threshold``.
    """

    kind: ClassVar[str]  # the profile's column kind this test checks
    threshold: ClassVar[float]  # the default effect threshold (check_drift's thresholds win)

    def prepare(
        self, name: str, values: pd.Series, problems: list[str], quality: list[str]
    ) -> pd.Series | None:
        """The current values as ``check`` reads them; None after adding to ``problems``."""
        return values

    @abstractmethod
    def check(
        self,
        name: str,
        reference: dict[str, Any],
        values: pd.Series,
        threshold: float,
        quality: list[str],
    ) -> tuple[ColumnDrift | None, float | None]:
        """The column's verdict and its unadjusted p-value (None: one cell, no test).

        ``reference`` is the column's profile and ``values`` its current values
        without missing ones. None instead of a verdict when the column cannot be
        checked, after saying why in ``quality``.
        """


DRIFT_TESTS: dict[str, DriftTest] = {}


def register_drift_test(test: DriftTest) -> DriftTest:
    """Add ``test`` to ``DRIFT_TESTS``: ``check_drift`` uses it for columns of its kind."""
    if test.kind in DRIFT_TESTS:
        raise ValueError(
            f"columns of kind {test.kind!r} already have a drift test "
            f"({type(DRIFT_TESTS[test.kind]).__name__}); one test per kind"
        )
    DRIFT_TESTS[test.kind] = test
    return test
