"""The hand-written peer of ``benchmarks/serving.py``: FastAPI + uvicorn, as people write it.

The champion is loaded once with ``mlfactory.load_model``; ``POST /predict``
takes ``{"columns": [...], "data": [[...], ...]}``, builds a DataFrame and calls
``package.predict`` right in the ``async def`` handler (so on the event loop):
no batching, no thread, no schema check beyond what ``predict`` does. Started by
the benchmark as ``uvicorn fastapi_peer:app``; ``$SERVING_BENCH_MODEL`` and
``$SERVING_BENCH_REGISTRY`` say what to load.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

import mlfactory

package = mlfactory.load_model(
    os.environ["SERVING_BENCH_MODEL"], path=os.environ["SERVING_BENCH_REGISTRY"]
)
package.pipeline[-1].set_params(n_jobs=1)  # one thread, as the other servers
app = FastAPI()


class Rows(BaseModel):
    columns: list[str]
    data: list[list[Any]]


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(rows: Rows) -> dict[str, Any]:
    frame = pd.DataFrame(rows.data, columns=rows.columns)
    return {"predictions": package.predict(frame).to_dict(orient="records")}
