"""Output files: written through temp files, fsynced, and committed together or not at all."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import OutputError


# --------------------------------------------------------------------------- output


TEMP_SUFFIX = ".rank-citations.tmp"
#: Names of this tool's temp files: ``.<final name>.<random>.rank-citations.tmp`` (see :func:`_temp_file`).
_TEMP_NAME = re.compile(r"^\.(?P<final>[A-Za-z0-9_.-]+)\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


def _temp_file(path: Path) -> tuple[int, Path]:
    """A fresh temp file beside ``path``, opened (``O_CREAT | O_EXCL``, never through a link, by
    :func:`tempfile.mkstemp`) with the permissions a plain ``open`` would give; returns ``(fd, path)``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, Path(tmp)


def remove_temp_files(directory: str | os.PathLike[str], is_output: Callable[[str], bool]) -> int:
    """Delete temp files this tool left in ``directory`` (not below it); returns how many.

    Only names of the form :func:`_temp_file` makes, for a final name that ``is_output``
    accepts, are touched: a user's own files, even ones ending in ``.rank-citations.tmp``,
    are never removed. Called by a job that holds the directory's lock
    (:class:`ranker.io.output_dir.OutputDir`) when it starts and when it fails, as a last guard: a
    signal can arrive between creating a temp file and the ``try`` that would remove it.
    """
    n = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if not m or not is_output(m.group("final")) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
            n += 1
        except OSError:
            pass
    return n


def free_bytes(directory: str | os.PathLike[str]) -> int:
    """Bytes free to this user in the file system holding ``directory``."""
    return shutil.disk_usage(directory).free


def _no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space_error(directory: Path, what: str, needed: int) -> OutputError:
    """The one-line error for a write that found no room."""
    try:
        free = f"{free_bytes(directory) / 1e6:,.1f} MB free"
    except OSError:
        free = "free space unknown"
    return OutputError(f"{directory}: no space left on the device writing {what} (about {needed / 1e6:,.1f} MB "
                       f"needed, {free}); free some space and run the job again")


class StagedOutputs:
    """A job's outputs, written to temp files and given their final names only by :meth:`commit`.

    A job leaves either all of its outputs or none: pass the instance as ``staging`` to
    :func:`write_parquet_atomic` and :func:`write_json_atomic`, and commit when the job has
    finished. Used as a context manager, whatever was not committed is removed on exit (an
    error, Ctrl-C, SIGTERM), so the previous complete run stays as it was.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []

    def __enter__(self) -> "StagedOutputs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def add(self, tmp: Path, path: Path) -> None:
        self.pending.append((tmp, path))

    def commit(self, *, replaces: Iterable[Path] = ()) -> None:
        """Rename every pending file to its final name, ``run.json`` last.

        ``replaces``: files of an earlier run in the same place that this run does not write
        (say ``credit.parquet`` from a job that had a ``[credit]`` section); they are removed,
        after the old ``run.json`` and before the new one, so the directory never shows a
        ``run.json`` beside outputs of another run.
        """
        last = [(tmp, path) for tmp, path in self.pending if path.name == "run.json"]
        for _, path in last:
            path.unlink(missing_ok=True)
        written = {path for _, path in self.pending}
        for tmp, path in self.pending:
            if path.name != "run.json":
                os.replace(tmp, path)
        for path in replaces:
            if Path(path) not in written:
                Path(path).unlink(missing_ok=True)
        for tmp, path in last:
            os.replace(tmp, path)
        self.pending.clear()

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending.clear()


def _write_atomic(path: Path, write: Callable[[Any], None], size_hint: int, staging: StagedOutputs | None) -> None:
    """Write through a fresh temp file beside ``path`` (``write(binary file)``), fsync, publish.

    The temp file is removed when anything fails; a full disk becomes an :class:`OutputError`
    naming the directory and about how many bytes were needed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = _temp_file(path)
    except OSError as exc:
        if _no_space(exc):
            raise no_space_error(path.parent, path.name, size_hint) from None
        raise
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if staging is not None:
            staging.add(tmp, path)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if _no_space(exc):
            raise no_space_error(path.parent, path.name, size_hint) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None,
                         *, staging: StagedOutputs | None = None) -> None:
    """Write ``table`` to ``path`` through a temp file in the same directory, then rename.

    A reader never sees a partial file under the final name; the temp file is removed if
    writing fails or is interrupted. ``metadata`` lands in the schema's key-value metadata
    under ``rank_citations`` as JSON. With ``staging`` the rename waits for
    :meth:`StagedOutputs.commit`.
    """
    path = Path(path)
    if metadata is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"rank_citations": json.dumps(metadata, sort_keys=True).encode()})

    def write(fh: Any) -> None:
        try:
            pq.write_table(table, fh, compression="zstd")
        except pa.ArrowException as exc:  # Arrow wraps the file object's OSError
            if "No space left" in str(exc) or "Disk quota" in str(exc):
                raise OSError(errno.ENOSPC, str(exc)) from None
            raise

    _write_atomic(path, write, int(table.nbytes), staging)


def write_text_atomic(text: str, path: str | os.PathLike[str], *, staging: StagedOutputs | None = None) -> None:
    """Write ``text`` (UTF-8) atomically (temp file, fsync, rename; staged like parquet)."""
    data = text.encode()
    _write_atomic(Path(path), lambda fh: fh.write(data), len(data), staging)


def write_json_atomic(obj: Any, path: str | os.PathLike[str], *, staging: StagedOutputs | None = None) -> None:
    """Write ``obj`` as indented JSON, atomically (temp file, fsync, rename; staged like parquet)."""
    data = (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()
    _write_atomic(Path(path), lambda fh: fh.write(data), len(data), staging)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


