"""The BentoML peer of ``benchmarks/serving.py``: one batchable API with adaptive batching.

Runs in the benchmark's own venv (``benchmarks/.venv-bentoml``), started as
``bentoml serve bento_peer:FlightDelays``. ``serving.py`` first exports the
champion's fitted scikit-learn pipeline (skops) and its input columns to
``$SERVING_BENCH_EXPORT``, so this service predicts with the very same model.

Request: ``{"records": [{"month": 1, ..., "dest": "IAH"}, ...]}``; answer: one
``[p_false, p_true]`` per row. The API takes a list of records, not a
``pd.DataFrame``: with a DataFrame argument, BentoML 1.4.40's batch dispatcher
never answers (``PandasDataFrameContainer.get_batch_size`` returns the shape
tuple, and ``_get_inputs`` fails on ``int + tuple``). Lists are batched by
concatenation, one element per row.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bentoml
import pandas as pd

EXPORT = Path(os.environ["SERVING_BENCH_EXPORT"])
COLUMNS: list[str] = json.loads((EXPORT / "columns.json").read_text())["columns"]


@bentoml.service(workers=1)
class FlightDelays:
    def __init__(self) -> None:
        import skops.io as sio

        path = EXPORT / "pipeline.skops"
        self.pipeline: Any = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        self.pipeline[-1].set_params(n_jobs=1)  # one thread, as the other servers

    @bentoml.api(batchable=True, max_batch_size=256)
    def predict(self, records: list[dict[str, Any]]) -> list[list[float]]:
        frame = pd.DataFrame.from_records(records, columns=COLUMNS)
        result: list[list[float]] = self.pipeline.predict_proba(frame).tolist()
        return result
