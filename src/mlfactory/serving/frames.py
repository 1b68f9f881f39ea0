"""Request bodies to DataFrames and predictions back to JSON, shared by the protocols."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mlfactory.errors import ServingError  # also importable from here, as it used to be

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Rows", "ServingError", "dumps", "from_columns", "from_records", "parse_json"]


class Rows:
    """A request's rows as parsed, before they become a DataFrame.

    The model's thread builds one frame for a whole micro-batch of same-shaped
    requests, instead of one per request on the event loop.
    """

    __slots__ = ("columns", "data")

    def __init__(self, columns: list[str], data: list[list[Any]]) -> None:
        self.columns = columns
        self.data = data  # row-major, one list per row, aligned with columns

    def __len__(self) -> int:
        return len(self.data)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.data, columns=self.columns)


def parse_json(body: bytes) -> Any:
    if not body:
        raise ServingError(400, "the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ServingError(400, f"the request body is not valid JSON: {exc}") from None


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays orjson cannot take as they are, numpy scalars
        return value.tolist()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any) -> bytes:
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=_default, option=options)


def _check_scalars(rows: list[Any], where: str) -> None:
    for i, row in enumerate(rows):
        values = row.values() if isinstance(row, dict) else row
        for value in values:
            if isinstance(value, dict | list):
                raise ServingError(
                    400, f"{where}[{i}] holds a nested {type(value).__name__}; send plain values"
                )


def from_records(records: Any, where: str) -> Rows:
    """``[{"col": value, ...}, ...]`` as rows (a key missing from a record is null there)."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ServingError(400, f"{where} must be a list of objects, one per row")
    if not records:
        raise ServingError(400, f"{where} is empty; send at least one row")
    _check_scalars(records, where)
    columns = list(records[0])
    known = set(columns)
    for record in records[1:]:
        for key in record:
            if key not in known:
                known.add(key)
                columns.append(key)
    return Rows(columns, [[record.get(c) for c in columns] for record in records])


def from_columns(columns: Any, data: Any, where: str) -> Rows:
    """``columns: [...]`` with ``data: [[...], ...]`` (row-major) as rows."""
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ServingError(400, f"{where}.columns must be a list of column names")
    if len(set(columns)) != len(columns):
        raise ServingError(400, f"{where}.columns has duplicate names")
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise ServingError(400, f"{where}.data must be a list of rows (lists)")
    if not data:
        raise ServingError(400, f"{where}.data is empty; send at least one row")
    for i, row in enumerate(data):
        if len(row) != len(columns):
            raise ServingError(
                400, f"{where}.data[{i}] has {len(row)} values for {len(columns)} columns"
            )
    _check_scalars(data, f"{where}.data")
    return Rows(columns, data)


def from_column_lists(inputs: Any, where: str) -> Rows:
    """``{"col": [values...], ...}`` as rows."""
    if not isinstance(inputs, dict) or not inputs:
        raise ServingError(400, f"{where} must be an object of column -> list of values")
    lengths = set()
    for name, values in inputs.items():
        if not isinstance(values, list):
            values = [values]
            inputs[name] = values
        lengths.add(len(values))
    if len(lengths) != 1:
        raise ServingError(400, f"{where}: columns have different lengths {sorted(lengths)}")
    if lengths == {0}:
        raise ServingError(400, f"{where} is empty; send at least one row")
    data = [list(row) for row in zip(*inputs.values(), strict=True)]
    _check_scalars(data, where)
    return Rows(list(inputs), data)
