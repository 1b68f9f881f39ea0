"""What a batch job did: rows, parts, resumed parts, time, peak memory and problems."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["BatchResult", "Progress"]

Progress = Callable[[int, int], None]  # (rows done, rows in all chunks)


@dataclass
class BatchResult:
    model: str
    version: str
    output: str
    rows: int = 0  # rows in the input's readable chunks
    scored: int = 0
    rejected: int = 0
    parts: int = 0  # chunks committed in all
    resumed: int = 0  # of which were committed by an earlier run
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every chunk is committed; 2 when some input could not be read."""
        return 2 if self.problems else 0

    def record(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "output": self.output,
            "rows": self.rows,
            "scored": self.scored,
            "rejected": self.rejected,
            "parts": self.parts,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "problems": self.problems,
            "exit_code": self.exit_code,
        }
