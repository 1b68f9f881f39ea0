"""The frequencies a forecast can have (``forecast.frequency``) and what each implies."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FREQUENCIES", "Frequency"]


@dataclass(frozen=True)
class Frequency:
    """One frequency: its code in the spec, the pandas alias and the seasonal period."""

    code: str  # H, D, W, M, Q (factory.yaml)
    alias: str  # the pandas offset alias before anchoring: h, D, W, M, Q
    season: int  # the seasonal period in steps: the naive baseline's and MASE's
    words: str  # "hourly", ...


FREQUENCIES: dict[str, Frequency] = {
    f.code: f
    for f in (
        Frequency("H", "h", 24, "hourly"),
        Frequency("D", "D", 7, "daily"),
        Frequency("W", "W", 52, "weekly"),
        Frequency("M", "M", 12, "monthly"),
        Frequency("Q", "Q", 4, "quarterly"),
    )
}
