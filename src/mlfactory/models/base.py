"""The catalog's entry, its table and the one search range type.

A ``CatalogEntry`` is one model: the input style its preprocessor needs, a builder
``(params, seed, categorical) -> estimator`` for each kind of estimator it offers
(``classifier``, ``regressor``: a task says which it needs, as ``Task.estimator``)
and a default search space for each. ``register_model`` adds one to ``CATALOG``.
``SearchRange`` is both the catalog's default ranges and ``factory.yaml``'s
``models[].search`` entries (``spec.py`` validates them with this class).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from mlfactory.errors import SpecError
from mlfactory.features import Style

if TYPE_CHECKING:
    from mlfactory.tasks import Task

__all__ = ["CATALOG", "Builder", "CatalogEntry", "SearchRange", "register_model", "same_space"]


class SearchRange(BaseModel):
    """A hyperparameter range: ``{low, high, log, type}`` or ``{choices: [...]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float | None = None
    high: float | None = None
    log: bool = False
    type: Literal["int", "float"] | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _is_range_or_choices(self) -> SearchRange:
        if self.choices is not None:
            if not self.choices:
                raise ValueError("choices must not be empty")
            nested = [c for c in self.choices if not isinstance(c, str | int | float | None)]
            if nested:  # Optuna picks one choice as the parameter's value
                raise ValueError(
                    f"choices are values (text, numbers, true/false, null), not lists or "
                    f"mappings: {nested[0]!r}"
                )
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high, or choices")
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


Builder = Callable[[dict[str, Any], int, list[int]], Any]


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    style: Style
    builders: dict[str, Builder]  # by the kind of estimator: "classifier", "regressor"
    spaces: dict[str, dict[str, SearchRange]] = field(default_factory=dict)  # by the same kinds
    # searched too when the data has categorical features (those the estimator splits itself)
    categorical_space: dict[str, SearchRange] = field(default_factory=dict)
    boosting: bool = False  # accepts an eval set: early stopping and pruning
    # names the estimator takes besides its get_params() (LightGBM's own parameters)
    more_parameters: Callable[[], frozenset[str]] = frozenset
    # raises ValueError when the library refuses a parameter's value (LightGBM's parser)
    check_value: Callable[[str, Any], None] | None = None

    def build(self, task: Task, params: dict[str, Any], seed: int, categorical: list[int]) -> Any:
        """An unfitted estimator of the kind ``task`` needs."""
        builder = self.builders.get(task.estimator)
        if builder is None:
            raise SpecError(
                f"model {self.name!r} has no {task.estimator} for task {task.name!r}; it offers "
                f"{', '.join(self.builders)}"
            )
        return builder(params, seed, categorical)

    def parameters(self, task: Task) -> tuple[frozenset[str], frozenset[str]]:
        """The parameter names the estimator ``task`` needs takes: its own (``get_params``),
        and the others it passes on (LightGBM's native names and aliases)."""
        own = frozenset(self.build(task, {}, 0, []).get_params())
        return own, self.more_parameters() - own

    def refused(self, task: Task, params: dict[str, Any]) -> dict[str, str]:
        """Each of ``params`` whose value the estimator refuses, with the library's reason,
        found one at a time without fitting: scikit-learn's parameter constraints and the
        entry's ``check_value``. Without it a wrong type (``max_depth: 2.5``) passed
        ``validate`` and failed at ``train``."""
        refused = {}
        for key, value in params.items():
            try:
                estimator = self.build(task, {key: value}, 0, [])
                if hasattr(estimator, "_parameter_constraints"):  # scikit-learn's own check
                    estimator._validate_params()
                if self.check_value is not None:
                    self.check_value(key, value)
            except (ValueError, TypeError) as exc:
                refused[key] = str(exc).strip() or type(exc).__name__
        return refused

    def space(self, task: Task, *, categorical: bool = False) -> dict[str, SearchRange]:
        """The search space for ``task``'s estimator; with ``categorical`` features, the
        ranges that only they use too."""
        space = self.spaces.get(task.estimator, {})
        return {**space, **self.categorical_space} if categorical and space else space


CATALOG: dict[str, CatalogEntry] = {}


def register_model(entry: CatalogEntry) -> CatalogEntry:
    """Add ``entry`` to ``CATALOG``, where ``factory.yaml`` finds it by name."""
    if entry.name in CATALOG:
        raise ValueError(
            f"model {entry.name!r} is already in the catalog; give the new entry another name"
        )
    CATALOG[entry.name] = entry
    return entry


def same_space(space: dict[str, SearchRange]) -> dict[str, dict[str, SearchRange]]:
    """One search space for both kinds of estimator."""
    return {"classifier": space, "regressor": space}
