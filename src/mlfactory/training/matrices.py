"""Encoded training data that a trial can reach by reference, in this process or another.

Each input style's encoded matrices (train, validation, test) are written once
to a folder as ``.npy`` files; a ``MatrixRef`` names that folder. It is small
and picklable, so a trial sent to another process (or, through a shared file
system, another machine) loads the same numbers by memory-mapping the files. In
the process that wrote them the arrays are kept, so local trials read no file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Matrices", "MatrixRef", "RowsRef", "adopt", "forget", "store"]

_PARTS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")
_LOADED: dict[str, Matrices] = {}  # folder -> arrays, in each process that needed them
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Matrices:
    """One input style's encoded rows and targets."""

    X_train: Any
    y_train: Any
    X_val: Any
    y_val: Any
    X_test: Any
    y_test: Any


@dataclass(frozen=True)
class MatrixRef:
    """Where one style's ``Matrices`` are: a folder of ``.npy`` files."""

    folder: str

    def load(self) -> Matrices:
        """The matrices (memory-mapped, read-only), loaded once per process."""
        with _LOCK:
            found = _LOADED.get(self.folder)
            if found is None:
                root = Path(self.folder)
                arrays = [np.load(root / f"{part}.npy", mmap_mode="r") for part in _PARTS]
                found = _LOADED[self.folder] = Matrices(*arrays)
            return found


@dataclass(frozen=True, eq=False)
class RowsRef(MatrixRef):
    """Some rows of a style's ``Matrices``: one group's, for a family member's fit.

    ``train``, ``validation`` and ``test`` are positions in the matrices of that part.
    """

    train: np.ndarray[Any, np.dtype[np.intp]]
    validation: np.ndarray[Any, np.dtype[np.intp]]
    test: np.ndarray[Any, np.dtype[np.intp]]

    def load(self) -> Matrices:
        """The rows' matrices (copies of the memory-mapped ones)."""
        m = super().load()
        train, val, test = self.train, self.validation, self.test
        return Matrices(
            m.X_train[train],
            m.y_train[train],
            m.X_val[val],
            m.y_val[val],
            m.X_test[test],
            m.y_test[test],
        )


def store(folder: Path, matrices: Matrices) -> MatrixRef:
    """Write ``matrices`` to ``folder`` and keep them for this process; returns the reference."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in _PARTS:
        np.save(folder / f"{part}.npy", np.ascontiguousarray(getattr(matrices, part)))
    ref = MatrixRef(str(folder))
    with _LOCK:
        _LOADED[ref.folder] = matrices
    return ref


def adopt(ref: MatrixRef, matrices: Matrices) -> None:
    """Keep ``matrices`` as this process's copy of ``ref`` (shipped by an engine)."""
    with _LOCK:
        _LOADED.setdefault(ref.folder, matrices)


def forget(ref: MatrixRef) -> None:
    """Drop this process's copy (the folder itself is the caller's to remove)."""
    with _LOCK:
        _LOADED.pop(ref.folder, None)
