"""Training: split, search, evaluate, gate, register (``train`` is the entry point)."""

from mlfactory.training.factory import TrainResult, train

__all__ = ["TrainResult", "train"]
