"""What a task is: the one seam every task-specific behaviour goes through.

A task (classification, regression; forecasting and anomaly next) is a
``Task`` subclass in its own module, registered in ``tasks.TASKS``. It owns
what differs between tasks, so nothing outside ``tasks/`` asks which task it
is dealing with:

- the target: ``prepare_target`` (encoding and its problems), ``stratify``;
- the metrics: ``metric_names``, ``default_metric``, ``metrics``, and
  ``undefined`` (when a metric says nothing on some labels);
- the one mapping from a model's raw output to encoded predictions and
  probabilities (``raw_output`` names the estimator's method, ``decode`` maps
  what it returns, ``decide`` applies a decision threshold; ``predict`` does
  all three), used by the search, the evaluation, the package and the serving
  fast path; what the raw score that explanations add up to is (``raw_score``);
- typed output columns (``output_columns``, ``outputs``) instead of names
  that several modules agree on;
- the values monitoring profiles and compares (``prediction_values``), and the
  label encoding it scores arriving labels with (``encode_labels``);
- the report's diagnostic plots (``diagnostics``).

Encoded predictions are what the metrics take: class indices ``0..K-1`` and an
``(n, K)`` probability matrix for a classifier, floats and no probabilities for
a regressor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from mlfactory.metrics import METRICS, Metric

if TYPE_CHECKING:
    import pandas as pd

    from mlfactory.charts import Chart

__all__ = ["Diagnostic", "OutputColumn", "Target", "TargetOptions", "Task"]

Array = Any  # numpy arrays
Diagnostic = tuple[str, str, "Callable[[], Chart | None]"]  # title, caption, draw
WIDTH, HEIGHT = 540, 387  # px of a diagnostic plot in the report's two-column grid


@dataclass(frozen=True)
class OutputColumn:
    """One column a model's answer has: its name, what it holds and its values' dtype."""

    name: str
    role: Literal["prediction", "probability", "interval", "score"]
    dtype: Any  # numpy dtype of the values (labels keep theirs; scores are float64)
    label: Any = None  # the class a probability column is of

    @property
    def is_probability(self) -> bool:
        return self.role == "probability"


@dataclass(frozen=True)
class Target:
    """A prepared target: encoded values, and the labels behind the codes for a classifier.

    ``notes`` say what was chosen for the user (the positive class and why, an
    imbalance); ``metric`` is the primary metric this target calls for when the
    spec names none (None: the task's default).
    """

    y: Array
    classes: list[Any] | None = None
    notes: tuple[str, ...] = ()
    metric: str | None = None


@dataclass(frozen=True)
class TargetOptions:
    """What ``factory.yaml`` says about the target beyond its name (``data.*``)."""

    positive_class: Any = None  # a binary target's positive class; None: chosen
    max_classes: int = 100  # more classes than this needs an explicit opt-in


class Task(ABC):
    """One kind of problem; subclasses are registered in ``tasks.TASKS`` by name."""

    name: ClassVar[str]
    estimator: ClassVar[str]  # what the catalog builds: "classifier" | "regressor" | "detector"
    metric_names: ClassVar[tuple[str, ...]]
    default_metric: ClassVar[str]
    thresholded: ClassVar[bool] = False  # takes a decision threshold (``decode``'s threshold)
    series: ClassVar[bool] = False  # learns from series over time, not from rows (forecasting)
    default_models: ClassVar[tuple[str, ...]] = ("lightgbm",)  # when the spec names none
    needs_target: ClassVar[bool] = True  # False: learns from features alone (anomaly)

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # -- the target ----------------------------------------------------------------------

    @abstractmethod
    def prepare_target(
        self, values: pd.Series, column: str, options: TargetOptions
    ) -> tuple[Target | None, list[str]]:
        """Encode the target (no missing values left); or None and the problems with it."""

    def unlabelled(self, rows: int) -> Target:
        """The target of a task that learns without one (``needs_target`` False)."""
        raise NotImplementedError(f"task {self.name} needs a target")

    def stratify(self, y: Array) -> Array | None:
        """What a random split should keep in proportion, or None."""
        return None

    # -- metrics -------------------------------------------------------------------------

    def metrics(self, n_classes: int | None = None) -> list[Metric]:
        """The metrics reported for this task (some are for binary targets only)."""
        k = n_classes or 2
        return [
            METRICS[name] for name in self.metric_names if not (METRICS[name].binary_only and k > 2)
        ]

    def undefined(
        self, metric: Metric, y: Array, classes: list[Any] | None, target: str
    ) -> str | None:
        """Why ``metric`` says nothing on the labels ``y`` (encoded), or None."""
        return None

    # -- model output --------------------------------------------------------------------

    @abstractmethod
    def decode(
        self, raw: Array, present: Array | None, n_classes: int | None
    ) -> tuple[Array, Array | None]:
        """Encoded predictions and probabilities from a model's raw output.

        ``raw`` is what the estimator returns (``predict_proba`` over the classes it
        saw, ``present``, for a classifier; ``predict`` for a regressor).
        """

    @abstractmethod
    def raw_output(self, estimator: Any) -> Callable[[Any], Array]:
        """The estimator's method whose output ``decode`` takes (``predict_proba``, ``predict``).

        The serving fast path computes the same output its own way (LightGBM's
        Booster) and decodes it with ``decode``.
        """

    def decide(
        self, pred: Array, proba: Array | None, threshold: float | None
    ) -> tuple[Array, Array | None]:
        """Decoded output with a decision threshold applied (tasks that take one).

        ``threshold`` is the model's (``thresholded`` tasks: its manifest's); None
        keeps the most probable class. Probabilities are never changed.
        """
        return pred, proba

    def predict(
        self, estimator: Any, X: Any, n_classes: int | None, threshold: float | None = None
    ) -> tuple[Array, Array | None]:
        """Call a fitted estimator (or pipeline) on ``X``, decode its output and decide."""
        present = getattr(estimator, "classes_", None)
        return self.decide(
            *self.decode(self.raw_output(estimator)(X), present, n_classes), threshold
        )

    def with_refits(self, proba: Array | None, flags: Array) -> Array:
        """Decoded output with the decisions of refits appended (a ``refits`` metric's input)."""
        raise NotImplementedError(f"task {self.name} reports no metric that compares refits")

    def raw_score(
        self, classes: list[Any] | None, present: Array | None, outputs: int
    ) -> tuple[str, list[str] | None]:
        """What a model's ``outputs`` raw scores are, which explanations add up to.

        A description of the scale, and a label per score when there are several
        (None for one). ``present`` is what ``decode`` gets.
        """
        labels = None if outputs == 1 else [str(i) for i in range(outputs)]
        return "the model's raw score", labels

    @abstractmethod
    def output_columns(self, classes: list[Any] | None) -> list[OutputColumn]:
        """The columns of an answer, in order."""

    @abstractmethod
    def outputs(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> dict[str, Array]:
        """Encoded predictions as the answer's columns (numpy arrays, one value per row)."""

    # -- monitoring ----------------------------------------------------------------------

    @abstractmethod
    def prediction_values(
        self, pred: Array, proba: Array | None, classes: list[Any] | None
    ) -> tuple[Array, Literal["numeric", "categorical"]]:
        """The one value per row that monitoring profiles and compares, and its kind."""

    @abstractmethod
    def encode_labels(self, labels: pd.Series, classes: list[Any] | None) -> Array:
        """Arriving labels encoded as the metrics take them (``DataError`` if they cannot be)."""

    # -- the report ----------------------------------------------------------------------

    @abstractmethod
    def diagnostics(
        self,
        y: Array,
        pred: Array,
        proba: Array | None,
        classes: list[Any] | None,
        metrics: dict[str, float],
        threshold: float | None = None,
        rows: pd.DataFrame | None = None,
    ) -> list[Diagnostic]:
        """The report's plots of the test predictions: (title, caption, draw) each.

        ``threshold`` is the model's decision threshold, if it has one (marked where
        a plot can show it); ``rows`` the test rows as read, in the same order.
        """
