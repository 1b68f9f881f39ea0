"""Batch scoring: a table of any size scored to Parquet parts in bounded memory, resumably.

``inputs.py`` turns ``--input`` (a file, a folder or a glob) into files and the
files into chunks (Parquet row groups, CSV blocks of whole records);
``score.py`` scores one chunk, a pure function of the scorer and the chunk, so an
engine can map it; ``parts.py`` writes a chunk's parts atomically and keeps the
manifest of committed parts; ``query.py`` turns ``--sql`` into one Parquet file
of the query's result, kept in the output folder, whose row groups are the chunks;
``job.py`` runs the chunks in a loop, skipping those already committed.
"""

from mlfactory.batch.inputs import Chunk, plan_chunks
from mlfactory.batch.job import BatchResult, run_batch
from mlfactory.batch.score import ScoredChunk, score_chunk

__all__ = ["BatchResult", "Chunk", "ScoredChunk", "plan_chunks", "run_batch", "score_chunk"]
