"""``train`` for forecasting: many series, backtested, chosen per series, registered as one.

::

    prepare    read the rows, the panel (every problem naming its series), the future
               values of the exogenous columns
    backtest   every model at every origin, mapped over the engine: series models in
               chunks of series, the global model one job per origin
    choose     each series' model on the origins before the last, scored on the last
               (the metrics the gates see); then chosen again on every origin
    calibrate  the intervals' conformal scores from the chosen models' backtests
    package    every series' forecast, model and metrics (registry.forecasts)
    register   gates and the champion, as for any model (training.registration)
    report     the HTML report

Like the row-wise ``train``, nothing touches the registry before ``register``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlfactory.data import load_frame
from mlfactory.data.schema import ColumnSchema, Schema
from mlfactory.errors import SpecError
from mlfactory.forecasting.backtest import ORIGIN, Job, Plan, default_windows, run_job, scored
from mlfactory.forecasting.calendar import FREQUENCIES, closed_days
from mlfactory.forecasting.forecasters import FORECASTERS, MEAN, Setting
from mlfactory.forecasting.keys import SEPARATOR
from mlfactory.forecasting.panel import KEY, TIME, Panel, PanelRoles, prepare_future, prepare_panel
from mlfactory.forecasting.select import (
    METRIC_NAMES,
    METRIC_WORDS,
    calibration,
    choose,
    coverage,
    nested,
    series_metrics,
    thin_levels,
)
from mlfactory.metrics import PairedComparison
from mlfactory.registry import ModelPackage
from mlfactory.registry.forecasts import CLOSED, SeriesForecasts
from mlfactory.registry.manifest import ForecastFamily, Lineage, Manifest, Scores
from mlfactory.tasks import task_named
from mlfactory.training.evaluate import Evaluated, Evaluation
from mlfactory.training.events import Step, shown
from mlfactory.training.gates import Check
from mlfactory.training.packaging import Packaged, lineage_of
from mlfactory.training.prepare import data_fingerprint

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.engines import Engine
    from mlfactory.engines.base import Shared
    from mlfactory.registry import Registry, VersionInfo
    from mlfactory.spec import FactorySpec
    from mlfactory.training.events import OnEvent
    from mlfactory.training.result import TrainResult

__all__ = ["Backtested", "backtest", "package_forecasts", "prepare_series", "train_series"]

BASELINE = "seasonal_naive"
CHUNKS_PER_WORKER = 4


@dataclass(frozen=True)
class Prepared:
    panel: Panel
    future: pd.DataFrame | None
    fingerprint: str
    rows_read: int


def prepare_series(spec: FactorySpec, spec_folder: Path) -> Prepared:
    """The spec's rows as a checked panel, and the exogenous columns' future values."""
    forecast = spec.forecast
    assert forecast is not None and spec.data.time_column is not None
    assert spec.data.target is not None  # spec_checks: forecasting needs it
    frame = load_frame(spec.data.source, spec.data.sql)
    roles = PanelRoles(
        ids=tuple(spec.data.id_columns),
        time=spec.data.time_column,
        target=spec.data.target,
        frequency=forecast.frequency,
        exogenous=tuple(forecast.exogenous),
        fill=forecast.fill,
        allow_negative=forecast.allow_negative,
        closed=tuple(forecast.closed),
    )
    panel = prepare_panel(frame, roles)
    future = None
    if forecast.exogenous:
        if forecast.future is None:
            raise SpecError(
                "forecast.future: the exogenous columns "
                f"{', '.join(forecast.exogenous)} need their values for the horizon; give a "
                "file with them (id, date and those columns) in forecast.future"
            )
        path = Path(forecast.future)
        path = path if path.is_absolute() else spec_folder / path
        future = prepare_future(load_frame(str(path), None), panel, forecast.horizon)
    # the panel, not the rows as read: it is in one order (series by name, then time)
    # whatever order the source or the SQL (a GROUP BY's, say) gives the same rows in
    return Prepared(panel, future, data_fingerprint(panel.frame), len(frame))


@dataclass(frozen=True)
class Backtested:
    """Every model's forecasts at every origin, scored, and the choices made on them."""

    models: list[str]
    plan: Plan
    forecasts: pd.DataFrame  # model, KEY, TIME, MEAN, ORIGIN (the final origin included)
    scored: pd.DataFrame  # the backtest origins joined with the actuals
    chosen: pd.Series  # the final choice, per series
    evaluation: Evaluation  # the nested choice on the last origin
    baseline: Evaluation
    per_series: pd.DataFrame  # the nested choice's metrics per series on the last origin
    coverage: dict[str, float]
    seconds: float


def _setting(spec: FactorySpec, panel: Panel, model: str, threads: int) -> Setting:
    forecast = spec.forecast
    assert forecast is not None
    params = next((m.params for m in spec.models if m.name == model), {})
    return Setting(
        horizon=forecast.horizon,
        frequency=forecast.frequency,
        alias=panel.alias,
        max_history=forecast.max_history if FORECASTERS[model].scope == "series" else None,
        holidays=forecast.holidays,
        exogenous=tuple(forecast.exogenous),
        non_negative=not forecast.allow_negative,
        seed=spec.search.seed,
        threads=threads,
        params=dict(params),
    )


def _run(job: Job, shared: tuple[pd.DataFrame, pd.DataFrame | None]) -> pd.DataFrame:
    """One job on a worker: its model's forecasts, labelled with the model."""
    frame, future = shared
    return run_job(job, frame, future).assign(model=job.model)


def backtest(
    spec: FactorySpec,
    prepared: Prepared,
    on_event: OnEvent | None = None,
    *,
    engine: Engine | None = None,
) -> Backtested:
    """Every model at every backtest origin, then the final fit of each model chosen (and
    of the baseline), on the engine (``engine``, else the spec's, started and stopped
    here); the nested and the final choices."""
    if engine is None:
        with spec.engine.start() as started:
            return _backtest(spec, prepared, on_event, started)
    return _backtest(spec, prepared, on_event, engine)


def _backtest(
    spec: FactorySpec, prepared: Prepared, on_event: OnEvent | None, engine: Engine
) -> Backtested:
    import pandas as pd

    forecast = spec.forecast
    assert forecast is not None
    panel = prepared.panel
    models = list(dict.fromkeys([BASELINE, *(m.name for m in spec.models)]))
    plan = _plan(spec, panel, models)
    keys = panel.ids
    started = time.perf_counter()
    shared = engine.share((panel.frame, prepared.future))
    backtests = tuple(range(plan.windows))
    jobs = _jobs(spec, panel, {m: None for m in models}, backtests, plan, engine)
    forecasts = pd.concat(_mapped(jobs, shared, engine, on_event, "backtest"), ignore_index=True)
    season = forecast.season
    joined = scored(panel.frame, forecasts, plan, season, closed=forecast.closed)
    inner = nested(
        joined,
        models,
        forecast.select,
        windows=plan.windows,
        horizon=plan.horizon,
        keys=keys,
        metric=spec.metric,
    )
    everything = series_metrics(joined)
    points = plan.horizon * plan.windows
    chosen = choose(
        everything, models, forecast.select, points=points, keys=keys, metric=spec.metric
    )
    # the final fits: only the models some series will be forecast by, and the baseline
    # (it stands in where a chosen model gives no final forecast); a model no series
    # chose costs its backtest only (pizzas: AutoETS's and AutoTheta's final fits, 2 s)
    wanted: dict[str, list[str] | None] = {BASELINE: None}
    for model, series in chosen.groupby(chosen, sort=False):
        wanted.setdefault(str(model), list(series.index))
    jobs = _jobs(spec, panel, wanted, (plan.final,), plan, engine)
    finals = _mapped(jobs, shared, engine, on_event, "final")
    forecasts = pd.concat([forecasts, *finals], ignore_index=True)
    rounds, seed = spec.evaluation.bootstrap, spec.search.seed
    evaluation = Evaluation(
        metrics=_means(inner.metrics),
        intervals=_intervals(inner.metrics, rounds, seed),
        train_metrics=_means(inner.earlier),
        y_test=None,
        pred=None,
        proba=None,
    )
    baseline = Evaluation(_means(inner.baseline), {}, {}, None, None, None)
    covered = coverage(
        joined,
        inner.chosen,
        forecast.levels,
        windows=plan.windows,
        horizon=plan.horizon,
        block=season,
    )
    return Backtested(
        models,
        plan,
        forecasts,
        joined,
        chosen,
        evaluation,
        baseline,
        inner.metrics,
        covered,
        time.perf_counter() - started,
    )


def _jobs(
    spec: FactorySpec,
    panel: Panel,
    models: dict[str, list[str] | None],
    origins: tuple[int, ...],
    plan: Plan,
    engine: Engine,
) -> list[Job]:
    """Each model's jobs at ``origins`` for its series (None: all): a series model in
    chunks of series (a few per worker), the global model one job over every series."""
    workers = max(1, getattr(engine, "workers", 1) or 1)
    jobs = []
    for model, series in models.items():
        if FORECASTERS[model].scope == "global":  # the cores a task has: the model is the
            # same for any count (LightGBM col-wise and deterministic), so on every engine
            setting = _setting(spec, panel, model, threads=engine.task_threads())
            jobs.append(Job(model, None, origins, setting, plan))
            continue
        keys = panel.ids if series is None else series
        chunk = max(1, math.ceil(len(keys) / (workers * CHUNKS_PER_WORKER)))
        setting = _setting(spec, panel, model, threads=1)
        jobs += [
            Job(model, tuple(keys[i : i + chunk]), origins, setting, plan)
            for i in range(0, len(keys), chunk)
        ]
    return jobs


def _mapped(
    jobs: list[Job], shared: Shared, engine: Engine, on_event: OnEvent | None, label: str
) -> list[pd.DataFrame]:
    """``jobs`` mapped over ``engine``, their results in the jobs' order."""
    results = []
    every = max(1, len(jobs) // 10)
    for done, result in enumerate(engine.imap(_run, jobs, shared), start=1):
        results.append(result)
        if on_event is not None and (done == len(jobs) or done % every == 0):
            on_event(Step("backtest", f"{done}/{len(jobs)} {label} jobs done"))
    return results


def _means(per_series: pd.DataFrame) -> dict[str, float]:
    """The mean over series of each metric (series without a value left out)."""
    return {m: float(per_series[m].mean()) for m in METRIC_NAMES if m in per_series}


def _intervals(per_series: pd.DataFrame, rounds: int, seed: int) -> dict[str, tuple[float, float]]:
    """95% bootstrap intervals of the mean over series."""
    out = {}
    rng = np.random.default_rng(seed)
    for name in METRIC_NAMES:
        values = per_series[name].dropna().to_numpy(dtype=float)
        if len(values) < 2:
            continue
        means = values[rng.integers(0, len(values), (rounds, len(values)))].mean(axis=1)
        out[name] = (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))
    return out


def paired_over_series(
    metric: str, new: pd.Series, old: pd.Series, *, rounds: int, seed: int
) -> PairedComparison | None:
    """New against old per-series values of a lower-is-better metric, series resampled."""
    both = np.column_stack([new.to_numpy(float), old.reindex(new.index).to_numpy(float)])
    both = both[~np.isnan(both).any(axis=1)]
    if len(both) < 2:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(both), (rounds, len(both)))
    gains = (both[:, 1] - both[:, 0])[picks].mean(axis=1)
    new_mean, old_mean = float(both[:, 0].mean()), float(both[:, 1].mean())
    return PairedComparison(
        metric=metric,
        new=new_mean,
        old=old_mean,
        improvement=old_mean - new_mean,
        low=float(np.quantile(gains, 0.025)),
        high=float(np.quantile(gains, 0.975)),
    )


def package_forecasts(
    spec: FactorySpec, prepared: Prepared, tested: Backtested, *, spec_folder: Path
) -> Packaged:
    """Every series' final forecast by its chosen model, its metrics, the calibration."""
    import pandas as pd

    forecast = spec.forecast
    assert forecast is not None and spec.data.time_column is not None
    panel, plan = prepared.panel, tested.plan
    final = tested.forecasts[tested.forecasts[ORIGIN] == plan.final]
    chosen = tested.chosen.copy()
    mine = final.merge(chosen.rename("model").reset_index(), on=["model", KEY])
    missing = sorted(set(chosen.index) - set(mine[KEY]))
    if missing:  # the chosen model had no final forecast: the baseline stands in
        extra = final[(final["model"] == BASELINE) & final[KEY].isin(missing)]
        mine = pd.concat([mine, extra], ignore_index=True)
        chosen.loc[missing] = BASELINE
    mine = mine.sort_values([KEY, TIME], kind="stable")
    mine["step"] = mine.groupby(KEY, sort=False).cumcount() + 1
    if not forecast.allow_negative:
        mine[MEAN] = mine[MEAN].clip(lower=0)
    mine[CLOSED] = closed_days(mine[TIME], forecast.closed)
    mine.loc[mine[CLOSED], MEAN] = 0.0
    from mlfactory.forecasting.backtest import series_scale

    scale = series_scale(panel.frame, forecast.season)
    sizes = panel.frame.groupby(KEY, sort=False).size()
    last_date = panel.frame.groupby(KEY, sort=False)[TIME].max()
    needs = {m: FORECASTERS[m].needs(_setting(spec, panel, m, 1)) for m in tested.models}
    keys = panel.ids
    per = tested.per_series.reindex(keys)
    series = pd.DataFrame(
        {
            "model": chosen.reindex(keys).to_numpy(),  # the final choice: it forecasts
            # the metrics below are of the model chosen before the last window, scored on it
            "scored": per["model"].to_numpy(),
            "points": sizes.reindex(keys).to_numpy(),
            "last": last_date.reindex(keys).to_numpy(),
            "scale": scale.reindex(keys).to_numpy(dtype=float),
            **{m: per[m].to_numpy(dtype=float) for m in METRIC_NAMES},
        },
        index=pd.Index(keys, name=KEY),
    )
    short = [m for m in tested.models if m != BASELINE]
    series["reason"] = [
        _reason(model, points, needs, short, plan, spec.metric)
        for model, points in zip(series["model"], series["points"], strict=True)
    ]
    pairs = tested.scored.merge(chosen.rename("model").reset_index(), on=["model", KEY])
    scores = calibration(pairs)[["step", "score"]]
    chosen_counts = {m: int((series["model"] == m).sum()) for m in tested.models}
    family = ForecastFamily(
        ids=spec.data.id_columns,
        time=spec.data.time_column,
        target=spec.data.target,
        frequency=forecast.frequency,
        alias=panel.alias,
        horizon=forecast.horizon,
        levels=forecast.levels,
        models=tested.models,
        rule=forecast.select,
        windows=plan.windows,
        step=plan.step,
        series=len(keys),
        chosen=chosen_counts,
        fallbacks=int(series["reason"].str.startswith("too short").sum()),
        coverage=tested.coverage,
        exogenous=forecast.exogenous,
        holidays=forecast.holidays,
        closed=forecast.closed,
        non_negative=not forecast.allow_negative,
        first=mine[TIME].min().isoformat() if len(mine) else "",
        last=mine[TIME].max().isoformat() if len(mine) else "",
    )
    forecasts = SeriesForecasts(
        family,
        series,
        scores.reset_index(drop=True),
        forecasts=mine[[KEY, "step", TIME, MEAN, CLOSED]].reset_index(drop=True),
    )
    task = task_named(spec.task)
    schema = Schema(
        columns=[
            *(
                ColumnSchema(c, "categorical", "object", 0.0, categories=_first(values))
                for c, values in _id_values(keys, spec.data.id_columns).items()
            ),
            ColumnSchema(spec.data.time_column, "datetime", "datetime64[ns]", 0.0),
        ],
        target=spec.data.target,
        task=task.name,
        classes=list(forecast.levels),
    )
    lineage = lineage_of(
        spec,
        prepared.fingerprint,
        spec_folder,
        rows={"read": prepared.rows_read, "series": len(keys), "points": len(panel.frame)},
        split={
            "method": "rolling origin",
            "windows": plan.windows,
            "step": plan.step,
            "horizon": plan.horizon,
        },
        libraries=("statsforecast", "mlforecast", "holidays"),
    )
    model = max(tested.models, key=lambda m: chosen_counts[m])
    manifest = Manifest(
        name=spec.name,
        task=task.name,
        model=str(model) if forecast.select == "global" else "per-series",
        params={},
        metric=spec.metric,
        input_schema=schema,
        metrics=Scores.model_validate(tested.evaluation.to_dict()),
        baseline_metrics=tested.baseline.metrics,
        # the Scorer warms itself on the first id and this date: that series' first forecast
        profile={"columns": {spec.data.time_column: {"min": _first_date(mine, keys[0])}}},
        id_column=None,
        lineage=Lineage.model_validate(lineage),
        forecast=family,
    )
    package = ModelPackage(manifest=manifest, pipeline=forecasts)
    return Packaged(package, lineage, {}, [], pd.DataFrame(), None)


def short_series(series: pd.DataFrame, shown: int = 10) -> str:
    """The series too short for some model, named (the first ``shown``), or ""."""
    short = series[series["reason"].str.startswith("too short")]
    if short.empty:
        return ""
    named = ", ".join(map(repr, short.index[:shown])) + (
        f" and {len(short) - shown:,} more" if len(short) > shown else ""
    )
    return f"too short for some model, forecast by the seasonal naive baseline: {named}"


def _first_date(forecasts: pd.DataFrame, key: str) -> str:
    dates = forecasts.loc[forecasts[KEY] == key, TIME]
    return dates.min().isoformat() if len(dates) else ""


def _id_values(keys: list[str], ids: list[str]) -> dict[str, list[str]]:
    """Each id column's distinct values in the series keys, in the keys' order (several
    id columns: each key is their values joined by SEPARATOR, which no value holds)."""
    if len(ids) == 1:
        return {ids[0]: keys}
    parts = [key.split(SEPARATOR) for key in keys]
    return {c: list(dict.fromkeys(p[i] for p in parts)) for i, c in enumerate(ids)}


def _first(keys: list[str]) -> list[str]:
    from mlfactory.data.schema import MAX_STORED_CATEGORIES

    return keys[:MAX_STORED_CATEGORIES]


def _plan(spec: FactorySpec, panel: Panel, models: list[str]) -> Plan:
    """The backtest's windows (the spec's, or ``default_windows``), step and horizon."""
    forecast = spec.forecast
    assert forecast is not None
    step = forecast.backtest.step or forecast.horizon
    windows = forecast.backtest.windows
    if windows is None:
        windows = default_windows(
            season=forecast.season,
            step=step,
            horizon=forecast.horizon,
            points=int(panel.frame.groupby(KEY, sort=False).size().median()),
            needs=max(FORECASTERS[m].needs(_setting(spec, panel, m, 1)) for m in models),
        )
    return Plan(windows, step, forecast.horizon)


def _reason(
    model: str, points: int, needs: dict[str, int], others: list[str], plan: Plan, metric: str
) -> str:
    lowest = f"lowest backtest {METRIC_WORDS.get(metric, metric)}"
    if model != BASELINE:
        return f"{lowest}: {model}"
    backtest = plan.held_out(0)
    short = [m for m in others if points < needs[m] + backtest]
    if short:
        return f"too short for {', '.join(short)} ({points} points): the baseline"
    return f"{lowest}: the baseline"


def compare_forecasts(
    spec: FactorySpec, registry: Registry, champion: VersionInfo | None, packaged: Packaged
) -> tuple[PairedComparison | None, Check | None]:
    """The new family against the champion's, per series on the same last backtest window."""
    if champion is None:
        return None, Check("first model", True, "no champion yet")
    new = packaged.package.pipeline
    try:
        old_package, _ = registry.load(champion)
    except Exception as exc:  # a champion that cannot be read is not a reason to fail
        return None, Check("champion comparable", True, f"champion unreadable ({exc})")
    old = old_package.pipeline
    same = (
        isinstance(old, SeriesForecasts)
        and old_package.manifest.lineage.data_fingerprint == packaged.lineage["data_fingerprint"]
        and old.family.horizon == new.family.horizon
        and (old.family.windows, old.family.step) == (new.family.windows, new.family.step)
    )
    if not same:
        return None, Check(
            "champion comparable",
            True,
            f"champion v{champion.version} was backtested on other data or windows; decided "
            "on the gates alone",
        )
    metric = spec.metric
    comparison = paired_over_series(
        metric,
        new.series[metric],
        old.series[metric],
        rounds=spec.evaluation.bootstrap,
        seed=spec.search.seed,
    )
    return comparison, None


def evaluated(tested: Backtested) -> Evaluated:
    return Evaluated(tested.evaluation, tested.baseline, baseline_name="seasonal naive baseline")


def train_series(
    spec: FactorySpec,
    registry: Registry,
    on_event: OnEvent,
    spec_folder: Path,
    tags: dict[str, str] | None,
) -> TrainResult:
    """``train`` for a task with ``series`` set: the steps in the module docstring."""
    from mlfactory.training.forecast_report import ForecastReport, write_forecast_report
    from mlfactory.training.registration import register_step
    from mlfactory.training.result import TrainResult
    from mlfactory.training.result import report_path as report_location

    on_event(Step("prepare", f"reading data for [bold]{spec.name}[/]"))
    prepared = prepare_series(spec, spec_folder)
    panel = prepared.panel
    for note in panel.notes:
        on_event(Step("prepare", shown(note)))
    on_event(
        Step(
            "prepare",
            f"{prepared.rows_read:,} rows read: {len(panel.ids):,} series, "
            f"{len(panel.frame):,} points ({panel.alias})",
        )
    )
    tested = backtest(spec, prepared, on_event)
    on_event(Step("backtest", f"backtests done in {tested.seconds:.1f} s"))
    packaged = package_forecasts(spec, prepared, tested, spec_folder=spec_folder)
    family = packaged.package.manifest.forecast
    assert family is not None
    on_event(Step("choose", shown(family.summary())))
    served = packaged.package.pipeline
    if short := short_series(served.series):
        on_event(Step("choose", shown(short)))
    pairs = served.calibration[["step", "score"]].to_numpy(dtype=float)
    # the intervals' blocks of steps are a season, as in coverage and quantiles
    season = FREQUENCIES[family.frequency].season
    warnings = thin_levels(pairs, family.horizon, season, list(family.levels))
    for warning in warnings:
        on_event(Step("choose", f"[yellow]warning[/]: {shown(warning)}"))
    on_event(Step("register", "registering"))
    scored = evaluated(tested)
    registered = register_step(
        spec, registry, packaged, scored, tags=tags, compare=compare_forecasts
    )
    version = registered.version
    on_event(Step("report", "writing the report"))
    report_path = report_location(registry, spec.name, version)
    write_forecast_report(
        ForecastReport(
            name=spec.name,
            version=version,
            metric=spec.metric,
            family=family,
            models=tested.models,
            scored=tested.scored,
            evaluation=tested.evaluation,
            baseline=tested.baseline,
            seconds=tested.seconds,
            series=served.series,
            decision=registered.decision,
            last_window=tested.per_series,
            history=panel.frame,
            served=served,
            seed=spec.search.seed,
            notes=(*panel.notes, *(f"warning: {w}" for w in warnings)),
        ),
        report_path,
    )
    registry.log_report(registered.run_id, report_path)
    return TrainResult(
        name=spec.name,
        version=version,
        model=packaged.package.manifest.model,
        metric=spec.metric,
        decision=registered.decision,
        evaluation=tested.evaluation,
        baseline=tested.baseline,
        report_path=report_path,
        run_id=registered.run_id,
        forecast=family,
        warnings=warnings,
    )
