"""A day of taxi rides, as in the book's ETML example: distance, time and the day's text.

Each ride has an id, a pickup time, its distance (km) and time (minutes), and three
short texts: the traffic, the weather and the news around it. Most rides follow one of
three regimes in which time is roughly proportional to distance (city hops, cross-town
rides, airport runs on the highway), so clustering distance and time (DBSCAN, as the
book does) finds them; about 1% are planted anomalies far from every regime (a short
ride stuck for an hour, a long detour in a storm, an impossible speed from a GPS fault),
and their texts say why (a jam, a storm, a road closure). ``is_anomaly`` marks them, for
evaluation only: a detector must not read it.

Everything is vectorised numpy: a million rides take about a second. The texts are
templates filled from seeded choices; nothing is downloaded. The seed is mixed with the
date, so every day differs and every day is the same each time it is made.

    python examples/taxi_etml/simulate.py --from 2026-11-27 --to 2026-11-28 --rides 2000 \\
        --output examples/taxi_etml/data/rides

writes ``date=YYYY-MM-DD/rides.parquet`` under ``--output``, one folder a day.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from mlfactory.errors import BadInputError
from mlfactory.etml.dates import date_range, parse_date
from mlfactory.files import write_atomically

__all__ = ["ANOMALY_SHARE", "COLUMNS", "simulate_day", "write_days"]

ANOMALY_SHARE = 0.01
COLUMNS = [
    "ride_id",
    "pickup_time",
    "ride_dist",
    "ride_time",
    "traffic",
    "weather",
    "news",
    "is_anomaly",
]

# regime: share of ordinary rides, distance (km) as lognormal (median, sigma) clipped to
# (low, high), speed (km/h) normal (mean, sd), and minutes lost at pickup and drop-off
REGIMES = {
    "city": (0.70, (3.0, 0.45), (0.6, 9.0), (22.0, 3.0), 3.0),
    "cross-town": (0.18, (9.0, 0.20), (5.0, 16.0), (32.0, 4.0), 4.0),
    "airport": (0.12, (24.0, 0.08), (18.0, 32.0), (55.0, 5.0), 5.0),
}
# anomaly kind: distance (km) uniform, minutes uniform
ANOMALIES = {
    "stuck": ((0.8, 6.0), (70.0, 160.0)),  # a short ride that took hours: a jam, a closure
    "detour": ((38.0, 70.0), (150.0, 260.0)),  # a long detour in a storm
    "gps": ((45.0, 90.0), (4.0, 12.0)),  # a faster-than-possible ride: a GPS fault
}

ROADS = ["the ring road", "Main Street", "the river bridge", "the harbour tunnel", "the M4"]
AREAS = ["the station", "the old town", "the business district", "the university", "the docks"]
PLACES = [*ROADS, "the airport road", "the stadium junction"]


def _fill(templates: list[str], **choices: list[str]) -> np.ndarray:
    """Every template with every combination of its fillers, as one array to draw from."""
    texts: list[str] = []
    for template in templates:
        names = [n for n in choices if "{" + n + "}" in template]
        for values in itertools.product(*(choices[n] for n in names)):
            texts.append(template.format(**dict(zip(names, values, strict=True))))
    return np.array(sorted(set(texts)), dtype=object)


TEXTS = {
    "traffic": _fill(
        [
            "Traffic flowing freely on {road}.",
            "Light traffic around {area}.",
            "Usual {period} congestion near {area}.",
            "Slow but moving on {road}.",
            "Roadworks narrow {road} to one lane; short delays.",
        ],
        road=ROADS,
        area=AREAS,
        period=["morning", "lunchtime", "evening"],
    ),
    "weather": _fill(
        [
            "{sky}, {temp} C.",
            "{sky} with a light breeze, {temp} C.",
        ],
        sky=["Clear skies", "Overcast and dry", "Light drizzle", "Sunny spells", "Cloudy"],
        temp=[str(t) for t in range(2, 19, 2)],
    ),
    "news": _fill(
        [
            "No major incidents reported.",
            "{team} play at home tonight; kick-off at {hour}:00.",
            "The council debates new bike lanes near {area}.",
            "A street market opens near {area} this weekend.",
            "Museum late opening in {area} until {hour}:00.",
        ],
        team=["City", "United", "the Rovers"],
        hour=["18", "19", "20"],
        area=AREAS,
    ),
}
ANOMALY_TEXTS = {
    "stuck": {
        "traffic": _fill(
            [
                "Standstill on {road} after a {incident}; queues of over an hour.",
                "Gridlock around {area}: a {incident} blocks every lane.",
            ],
            road=ROADS,
            area=AREAS,
            incident=["multi-car collision", "burst water main", "broken-down lorry"],
        ),
        "news": _fill(
            ["Police close {road} following a {incident}.", "Emergency services at {place}."],
            road=ROADS,
            place=PLACES,
            incident=["serious accident", "gas leak", "protest march"],
        ),
    },
    "detour": {
        "traffic": _fill(
            ["Diversions in place: {road} shut by flooding.", "Long tailbacks on {road}."],
            road=ROADS,
        ),
        "weather": _fill(
            [
                "Storm warning: {storm}, {temp} C.",
                "Severe weather: {storm} and fallen trees, {temp} C.",
            ],
            storm=["torrential rain", "gale-force winds", "thunderstorms and hail"],
            temp=["4", "7", "9"],
        ),
    },
    "gps": {
        "news": _fill(
            [
                "Satellite positioning outage reported across the region.",
                "Drivers report faulty meters after an app update.",
            ]
        ),
    },
}


def _rng(day: date, seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, day.toordinal()]))


def simulate_day(day: date, rides: int = 2000, seed: int = 42) -> pd.DataFrame:
    """``rides`` rides of ``day`` in pickup order; the same ``day`` and ``seed``, the same rows."""
    if rides < 0:
        raise ValueError(f"rides must be 0 or more, not {rides}")
    rng = _rng(day, seed)
    planted = int(rng.binomial(rides, ANOMALY_SHARE))
    weights = np.array([r[0] for r in REGIMES.values()])
    kind = np.concatenate(
        [
            rng.choice(len(REGIMES), size=rides - planted, p=weights / weights.sum()),
            len(REGIMES) + rng.integers(0, len(ANOMALIES), size=planted),
        ]
    )
    rng.shuffle(kind)
    dist = np.empty(rides)
    minutes = np.empty(rides)
    for index, name in enumerate(REGIMES):
        _, (median, sigma), (low, high), (speed, sd), lost = REGIMES[name]
        rows = kind == index
        n = int(rows.sum())
        dist[rows] = np.clip(rng.lognormal(np.log(median), sigma, n), low, high)
        kmh = np.clip(rng.normal(speed, sd, n), speed / 2, speed * 1.5)
        minutes[rows] = dist[rows] / kmh * 60 + lost + rng.normal(0, 0.8, n).clip(-lost / 2)
    for index, name in enumerate(ANOMALIES, start=len(REGIMES)):
        (d_low, d_high), (t_low, t_high) = ANOMALIES[name]
        rows = kind == index
        dist[rows] = rng.uniform(d_low, d_high, int(rows.sum()))
        minutes[rows] = rng.uniform(t_low, t_high, int(rows.sum()))
    texts = {column: _draw(rng, TEXTS[column], rides) for column in TEXTS}
    for index, name in enumerate(ANOMALIES, start=len(REGIMES)):
        rows = np.flatnonzero(kind == index)
        for column, choices in ANOMALY_TEXTS[name].items():
            texts[column][rows] = _draw(rng, choices, len(rows))
    seconds = np.sort(_pickup_seconds(rng, rides))
    stamp = day.strftime("%Y%m%d")
    return pd.DataFrame(
        {
            "ride_id": [f"{stamp}-{i:06d}" for i in range(1, rides + 1)],
            "pickup_time": pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s"),
            "ride_dist": dist.round(2),
            "ride_time": minutes.round(1),
            **texts,
            "is_anomaly": kind >= len(REGIMES),
        },
        columns=COLUMNS,
    )


def _draw(rng: np.random.Generator, choices: np.ndarray, n: int) -> np.ndarray:
    return choices[rng.integers(0, len(choices), size=n)]


def _pickup_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight: quiet nights, a morning and an evening rush."""
    hours = np.array([1, 1, 1, 1, 1, 2, 4, 8, 9, 6, 5, 5, 6, 5, 5, 6, 7, 9, 9, 7, 5, 4, 3, 2])
    hour = rng.choice(24, size=n, p=hours / hours.sum())
    return (hour * 3600 + rng.integers(0, 3600, size=n)).astype(np.int64)


def write_days(start: date, end: date, *, rides: int, output: Path, seed: int = 42) -> list[Path]:
    """One ``date=YYYY-MM-DD/rides.parquet`` per day from ``start`` to ``end``, each atomic."""
    written = []
    for day in date_range(start, end):
        frame = simulate_day(day, rides=rides, seed=seed)
        path = output / f"date={day.isoformat()}" / "rides.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda handle, f=frame: f.to_parquet(handle, index=False))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (default: --from)")
    parser.add_argument("--rides", type=int, default=2000, help="rides a day (default 2000)")
    parser.add_argument("--seed", type=int, default=42, help="mixed with each date (default 42)")
    parser.add_argument("--output", type=Path, default=Path("examples/taxi_etml/data/rides"))
    args = parser.parse_args(argv)
    try:
        start = parse_date(args.start, what="--from")
        end = parse_date(args.end, what="--to") if args.end else start
        if args.rides < 0:
            raise BadInputError(f"--rides {args.rides} is negative; give 0 or more rides a day.")
        paths = write_days(start, end, rides=args.rides, output=args.output, seed=args.seed)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
