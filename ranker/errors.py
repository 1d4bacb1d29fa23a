"""Errors a user can fix. Each carries a one-line message naming the file, column, row or key.

The CLI prints ``str(error)`` on one line and exits with status 1; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations


class RankerError(Exception):
    """Base class of the documented, user-facing errors."""


class ConfigError(RankerError):
    """The job file is invalid (unknown key, wrong type, bad value, missing path)."""


class InputError(RankerError):
    """An input parquet file is unusable (missing column, wrong type, nulls, bad weights, corrupt)."""


class GraphError(RankerError):
    """The graph or the seeds cannot be ranked (no papers, seeds that match nothing...)."""


class OutputError(RankerError):
    """An output cannot be written (no space left, directory in use by another job, unsafe path)."""


class ConvergenceError(RankerError):
    """The power iteration did not reach ``tol`` within ``max_iter`` iterations."""


def where(path: object, column: str | None = None, row: int | None = None) -> str:
    """Format the location part of a message: ``file.parquet, column 'cited', row 17``."""
    parts = [str(path)]
    if column is not None:
        parts.append(f"column {column!r}")
    if row is not None:
        parts.append(f"row {row}")
    return ", ".join(parts)
