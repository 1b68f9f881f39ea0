"""Monitoring: drift, data quality and performance of a model against its reference profile."""

from mlfactory.monitoring.domain import DomainResult, domain_classifier
from mlfactory.monitoring.drift import ColumnDrift, DriftResult, check_drift
from mlfactory.monitoring.monitor import MonitorResult, monitor, record_result
from mlfactory.monitoring.performance import PerformanceResult, check_performance
from mlfactory.monitoring.report import write_report

__all__ = [
    "ColumnDrift",
    "DomainResult",
    "DriftResult",
    "MonitorResult",
    "PerformanceResult",
    "check_drift",
    "check_performance",
    "domain_classifier",
    "monitor",
    "record_result",
    "write_report",
]
