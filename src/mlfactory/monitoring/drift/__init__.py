"""Per-column drift of current data against a model package's stored reference profile.

Each column gets a test chosen by its kind and an effect size, and a column drifts
only when both agree: the Benjamini-Hochberg adjusted p-value (across the checked
columns) is below ``alpha`` *and* the effect exceeds its threshold. At small n the
test keeps noise from alarming; at large n every difference is significant, so the
effect threshold decides. The false-alarm rate therefore stays near ``alpha`` (for
the whole dataset) at any sample size.

- numeric: two-sample chi-square on the reference bins (plus below/above-range
  bins), adjacent bins merged to an expected count of 40 (below that, the
  chi-square approximation's tail is too light and 1k-row samples alarm more
  often than the nominal rate); effect =
  Wasserstein-1 distance between the binned distributions / the reference std.
  The profile's ``bins`` (see ``data/profile.py``) are used when present, else
  its 20 equal-width ``histogram`` bins. A column with at most 20 distinct values
  in training (a 0/1 flag: its equal-frequency bins collapse to one or two) is
  tested on the count of each value instead, the values in order with what falls
  below, between or above them, merged the same way; effect = the exact
  Wasserstein-1 distance / the reference std.
- categorical: two-sample chi-square on the stored categories plus ``other``, small
  cells pooled; effect = Jensen-Shannon distance (base 2) over those same cells (per
  category, a thousand rare categories and a thousand rows would differ by chance
  alone, and the distance with them). Rare categories (under 40 training rows, or
  near the cut-off when the profile kept only the top 1000) are pooled into
  ``other`` with every unseen value: which rare values a sample holds is chance,
  and the counts of those it holds are biased upwards. When every category was
  stored, the pool also gets the Good-Turing estimate of the unseen mass (the
  training singletons). New categories beyond that estimate, and current values
  mostly outside a stored top, are quality findings.
- ordinal: two-sample chi-square on the count of each level of the stored order,
  adjacent levels merged the same way; effect = Wasserstein-1 distance between the
  rank distributions / the training std of the rank. Values outside the order are
  a quality finding.

Missing-rate jumps, unseen categories, out-of-range values and unusable columns
are data-quality findings (``DriftResult.quality``), never drift. A check that
cannot run at all (missing column, non-numeric values in a numeric column, fewer
than ``MIN_ROWS`` rows, a profile without columns) raises ``DataError``.
Datetime columns are not checked (the profile holds only their range).

Each kind's test is a ``DriftTest`` in ``DRIFT_TESTS`` (``base.py``): ``numeric.py``,
``categorical.py`` and ``ordinal.py`` register the three above, ``stats.py`` holds what they share,
and ``check.py`` runs them. A test for another kind is a new module that calls
``register_drift_test``, named in the import line below (or imported by its own
code); columns of a kind without a test are not checked.
"""

from mlfactory.monitoring.drift.base import (
    DRIFT_TESTS,
    REST,
    ColumnDrift,
    DriftResult,
    DriftTest,
    register_drift_test,
)
from mlfactory.monitoring.drift.check import ALPHA, MIN_ROWS, check_drift

# isort: off
from mlfactory.monitoring.drift import numeric, categorical, ordinal  # noqa: F401  (they register)
# isort: on

__all__ = [
    "ALPHA",
    "DRIFT_TESTS",
    "MIN_ROWS",
    "REST",
    "ColumnDrift",
    "DriftResult",
    "DriftTest",
    "check_drift",
    "register_drift_test",
]
