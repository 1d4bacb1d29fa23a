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
        """Give every pending file its final name, ``run.json`` last, all or nothing.

        The previous run is moved aside first, into a hidden folder of the output directory
        (``.previous-run-<random>.rank-citations``) with a journal of what this commit places:
        its ``run.json`` first, then each of its files that this run writes or that ``replaces``
        names (files of an earlier run this run does not write, say ``credit.parquet`` from a job
        that had ``[credit]``). Then the new files are renamed into place. If any step fails
        (an immutable file, a directory where a file goes, a full disk), what was placed is
        removed and the previous run is moved back, so the directory holds exactly the old run;
        the failure is an :class:`OutputError` in one line. A commit killed half way is finished
        or undone by the next job in the directory (:func:`recover_commit`).

        Raises
        ------
        OutputError
            A rename failed; the previous run is back in place.
        """
        if not self.pending:
            return
        directory = self.pending[0][1].parent
        last = [(tmp, path) for tmp, path in self.pending if path.name == "run.json"]
        first = [(tmp, path) for tmp, path in self.pending if path.name != "run.json"]
        placing = [path for _, path in first + last]
        old = [directory / "run.json"] + [p for p in dict.fromkeys([*placing, *map(Path, replaces)])
                                          if p.name != "run.json"]
        for path in old:
            if path.is_dir() and not path.is_symlink():
                raise OutputError(f"{path} is a directory where the job writes a file; move it away and run the "
                                  "job again (the previous outputs are unchanged)")
        backup = Path(tempfile.mkdtemp(prefix=".previous-run-", suffix=".rank-citations", dir=directory))
        journal = backup / JOURNAL
        moved: list[Path] = []
        placed: list[Path] = []
        try:
            _write_journal(journal, "moving", placing)
            for path in old:
                if os.path.lexists(path):
                    os.replace(path, backup / path.name)
                    moved.append(path)
            _write_journal(journal, "placing", placing)
            for tmp, path in first + last:
                os.replace(tmp, path)
                placed.append(path)
            _fsync_dir(directory)
        except BaseException as exc:
            _undo(directory, backup, placed, moved)
            if isinstance(exc, OSError):
                why = exc.strerror or str(exc)
                raise OutputError(f"{directory}: could not put the new outputs in place ({why}: "
                                  f"{exc.filename or directory}); the previous run's files are back as they were"
                                  ) from None
            raise
        self.pending.clear()
        shutil.rmtree(backup, ignore_errors=True)

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending.clear()


#: The journal of a commit in progress, in its ``.previous-run-*`` folder.
JOURNAL = "journal.json"
_BACKUP_NAME = re.compile(r"^\.previous-run-[A-Za-z0-9_]{8}\.rank-citations$")


def _write_journal(journal: Path, phase: str, placing: list[Path]) -> None:
    tmp = journal.with_name(journal.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump({"phase": phase, "placing": [p.name for p in placing]}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, journal)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _undo(directory: Path, backup: Path, placed: Iterable[Path], moved: Iterable[Path]) -> None:
    """Remove the new files ``placed`` and move the previous run's ``moved`` files back from ``backup``."""
    for path in placed:
        try:
            path.unlink()
        except OSError:
            pass
    for path in moved:
        try:
            os.replace(backup / path.name, path)
        except OSError:
            pass
    (backup / JOURNAL).unlink(missing_ok=True)
    try:
        backup.rmdir()
    except OSError:  # something could not be moved back: keep it where the user can find it
        pass


def folders_named(directory: str | os.PathLike[str], name: re.Pattern[str]) -> list[os.DirEntry]:
    """The folders (not links) directly in ``directory`` whose whole name matches ``name``; none if it
    cannot be read."""
    try:
        return [e for e in os.scandir(directory) if name.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def recover_commit(directory: str | os.PathLike[str]) -> int:
    """Finish or undo a commit that was killed half way in ``directory``; returns how many were found.

    A ``.previous-run-*`` folder holds the previous run's files and the journal of the commit.
    If the commit had begun placing new files and the new ``run.json`` is in place, it had
    finished: the previous run is deleted. Otherwise the new files it placed are removed and
    the previous run moved back. Called by a job holding the directory's lock
    (:class:`ranker.io.output_dir.OutputDir`) before it does anything else.
    """
    directory = Path(directory)
    found = 0
    for entry in folders_named(directory, _BACKUP_NAME):
        found += 1
        backup = Path(entry.path)
        try:
            info = json.loads((backup / JOURNAL).read_text())
            phase, placing = info["phase"], [directory / name for name in info["placing"]]
        except (OSError, ValueError, KeyError, TypeError):
            phase, placing = "moving", []  # killed before the journal: nothing new was placed
        if phase == "placing" and (directory / "run.json") in placing and (directory / "run.json").is_file():
            shutil.rmtree(backup, ignore_errors=True)  # the new run.json is placed last: the commit finished
            continue
        if phase != "placing":
            placing = []  # nothing new was placed yet; every file at the top is the previous run's
        moved = [directory / p.name for p in backup.iterdir() if p.name != JOURNAL and not p.name.endswith(".tmp")]
        _undo(directory, backup, [p for p in placing if os.path.lexists(p)], moved)
    return found


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
    write_parquet_batches_atomic([table], path, metadata, staging=staging, size_hint=int(table.nbytes))


def write_parquet_batches_atomic(tables: Iterable[pa.Table], path: str | os.PathLike[str],
                                 metadata: dict[str, Any] | None = None, *, staging: StagedOutputs | None = None,
                                 size_hint: int = 0) -> None:
    """:func:`write_parquet_atomic` for a table given in slices, each written as it comes (a row group
    each, for slices of up to 2**20 rows) and never held whole (one slice: the same file as
    ``pyarrow.parquet.write_table`` writes). The first slice fixes the schema
    (every later one is cast to it); there must be at least one, possibly empty. ``size_hint``:
    about how many bytes, for the message of a full disk."""
    path = Path(path)

    def write(fh: Any) -> None:
        writer, schema = None, None
        try:
            for table in tables:
                if writer is None:
                    schema = table.schema
                    if metadata is not None:
                        schema = schema.with_metadata({**(schema.metadata or {}), b"rank_citations":
                                                       json.dumps(metadata, sort_keys=True).encode()})
                    writer = pq.ParquetWriter(fh, schema, compression="zstd")
                assert schema is not None
                writer.write_table(table if table.schema.equals(schema, check_metadata=False) else table.cast(schema))
            assert writer is not None, "no slice to write"
            done, writer = writer, None
            done.close()  # the footer: a full disk here is reported like any other
        except pa.ArrowException as exc:  # Arrow wraps the file object's OSError
            if "No space left" in str(exc) or "Disk quota" in str(exc):
                raise OSError(errno.ENOSPC, str(exc)) from None
            raise
        finally:
            if writer is not None:  # a slice failed: close quietly, the temp file is removed
                try:
                    writer.close()
                except (pa.ArrowException, OSError, ValueError):
                    pass

    _write_atomic(path, write, size_hint, staging)


class WrittenTable:
    """An output written in slices and not held in memory: read back from its file when asked for.

    Before the commit the file is the staged temp file, after it the final one
    (:class:`StagedOutputs`). Reading after the output directory changed reads what is there.
    """

    def __init__(self, path: Path, staging: StagedOutputs | None) -> None:
        self.path, self.staging = path, staging

    def read(self, columns: list[str] | None = None) -> pa.Table:
        """The table (only ``columns`` when given), without the file's metadata."""
        current = next((tmp for tmp, final in (self.staging.pending if self.staging else []) if final == self.path),
                       self.path)
        return pq.read_table(current, columns=columns).replace_schema_metadata(None)


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


