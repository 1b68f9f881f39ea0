"""Monitoring: drift and data quality of current data against a model's reference profile."""

from mlfactory.monitoring.drift import ColumnDrift, DriftResult, check_drift
from mlfactory.monitoring.monitor import monitor

__all__ = ["ColumnDrift", "DriftResult", "check_drift", "monitor"]
