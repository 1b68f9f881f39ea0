"""The dates an ETML job runs for: one ``--date``, or ``--from`` ... ``--to`` to backfill.

A date is always given, never read from the clock (the book's DAG took it from the
clock when the file was parsed, so reruns and backfills read the wrong day). It is
written ``YYYY-MM-DD`` and nothing else: ``28/11/2026`` or ``2026-11-28T00:00``
are refused with the format to use, so a date folder's name is the date itself.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from mlfactory.errors import BadInputError

__all__ = ["MAX_DAYS", "date_range", "parse_date"]

MAX_DAYS = 3660  # about ten years of days in one backfill
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str, *, what: str = "date") -> date:
    """The day ``text`` names as ``YYYY-MM-DD``; anything else is a BadInputError.

    ``what`` names the argument in the message (``--from``, ``--date``).
    """
    if not isinstance(text, str) or not _ISO_DAY.fullmatch(text.strip()):
        raise BadInputError(
            f"{what} {text!r} is not a date in the form YYYY-MM-DD; write it like 2026-11-28."
        )
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise BadInputError(
            f"{what} {text!r} is not a day of the calendar ({exc}); write a real day in the "
            "form YYYY-MM-DD, like 2026-11-28."
        ) from None


def date_range(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included, in order.

    ``start`` after ``end`` is refused (the two are likely swapped), and so is a range
    of more than ``MAX_DAYS`` days (likely a typo in the year).
    """
    if start > end:
        raise BadInputError(
            f"--from {start.isoformat()} is after --to {end.isoformat()}; give the earlier "
            "day first."
        )
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise BadInputError(
            f"--from {start.isoformat()} --to {end.isoformat()} spans {days} days, more than "
            f"the {MAX_DAYS} one backfill runs; check the years, or run it in pieces."
        )
    return [start + timedelta(days=i) for i in range(days)]
