"""Data: sources (files, DuckDB SQL, bundled sets) and schema validation."""

from mlfactory.data.schema import (
    ColumnRoles,
    ColumnSchema,
    Schema,
    TrainingData,
    prepare_training,
)
from mlfactory.data.sources import load_frame, read_source

__all__ = [
    "ColumnRoles",
    "ColumnSchema",
    "Schema",
    "TrainingData",
    "load_frame",
    "prepare_training",
    "read_source",
]
