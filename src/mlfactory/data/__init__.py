"""Data: sources (files, DuckDB SQL, bundled sets) and schema validation.

The source kinds and file formats are tables (``sources.py``); the modules named
in the import line below register mlfactory's own entries, in that order.
"""

from mlfactory.data.schema import (
    ColumnRoles,
    ColumnSchema,
    Schema,
    TrainingData,
    prepare_training,
)
from mlfactory.data.sources import load_frame, read_source

# isort: off
from mlfactory.data import builtin, formats  # noqa: F401  (they register)
# isort: on

__all__ = [
    "ColumnRoles",
    "ColumnSchema",
    "Schema",
    "TrainingData",
    "load_frame",
    "prepare_training",
    "read_source",
]
