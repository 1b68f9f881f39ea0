"""A job's dates are written YYYY-MM-DD and nothing else; a backfill is every day, in order."""

from __future__ import annotations

from datetime import date

import pytest

from mlfactory.errors import BadInputError
from mlfactory.etml.dates import MAX_DAYS, date_range, parse_date


def test_a_date_is_read_as_written() -> None:
    assert parse_date("2026-11-28") == date(2026, 11, 28)
    assert parse_date(" 2024-02-29 ") == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("28/11/2026", "is not a date in the form YYYY-MM-DD"),
        ("2026-11-28T00:00", "is not a date in the form YYYY-MM-DD"),
        ("20261128", "is not a date in the form YYYY-MM-DD"),
        ("yesterday", "is not a date in the form YYYY-MM-DD"),
        ("2026-1-28", "is not a date in the form YYYY-MM-DD"),
        ("2026-02-30", "is not a day of the calendar"),
        ("2025-02-29", "is not a day of the calendar"),
    ],
)
def test_a_malformed_date_names_the_value_and_the_format(text: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as caught:
        parse_date(text, what="--date")
    assert f"--date {text!r}" in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_range_holds_both_ends() -> None:
    days = date_range(date(2026, 2, 27), date(2026, 3, 2))
    assert [d.isoformat() for d in days] == ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    assert date_range(date(2026, 11, 28), date(2026, 11, 28)) == [date(2026, 11, 28)]


def test_a_range_backwards_or_too_long_is_refused() -> None:
    with pytest.raises(BadInputError, match="--from 2026-11-28 is after --to 2026-11-27"):
        date_range(date(2026, 11, 28), date(2026, 11, 27))
    with pytest.raises(BadInputError, match=f"more than the {MAX_DAYS}"):
        date_range(date(2006, 11, 28), date(2026, 11, 28))  # 2006 for 2026: a typo
    assert len(date_range(date(2020, 1, 1), date(2020, 12, 31))) == 366
