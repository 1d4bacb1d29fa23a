"""The output directory of a job: checked, locked and swept before any work, released after.

One job writes to one output directory at a time. :class:`OutputDir` takes an exclusive
``fcntl.flock`` on ``<dir>/.rank-citations.lock`` for the whole job (a second job is refused
in one line naming the first one's pid), proves the directory writable with a probe created
by :func:`tempfile.mkstemp` (``O_EXCL``: a planted link is never followed), refuses a
directory whose outputs would overwrite or be read as the job's inputs, and removes the temp
files a killed earlier run left there (only names this tool makes, see
:func:`ranker.io.remove_temp_files`).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import tempfile
from pathlib import Path
from types import TracebackType

from ..errors import ConfigError, OutputError
from .outputs import folders_named, recover_commit, remove_temp_files

log = logging.getLogger("ranker")

#: Every file a job may write at the top of its output directory.
OUTPUT_NAMES = ("papers.parquet", "personalized.parquet", "trajectories.parquet", "authors.parquet", "credit.parquet",
                "coranking_papers.parquet", "report.html", "run.json")
#: Where finished personalized batches wait for a resume (:mod:`ranker.io.checkpoints`).
CHECKPOINT_DIR = ".checkpoint"
CHECKPOINT_SUBDIR = re.compile(r"(personalized|trajectories)-[0-9a-f]{16}")
CHECKPOINT_FILE = re.compile(r"batch-\d{6}\.(parquet|json)")
LOCK_NAME = ".rank-citations.lock"


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(path)


def check_inputs_apart(out_dir: str, input_files: list[str], input_dirs: list[str]) -> None:
    """Refuse an output directory whose outputs would replace, or be read as, the job's inputs.

    Parameters
    ----------
    out_dir : str
        ``[output] dir``.
    input_files : list of str
        Every input file of the job (citations, papers, seeds, targets, authorships...).
    input_dirs : list of str
        Directories read as a whole (a citations directory, the generator's data directory).

    Raises
    ------
    ConfigError
        An output path (symbolic links resolved) is an input file or lies in an input
        directory; the output directory is an input directory.
    """
    out = _real(out_dir)
    outputs = {_real(os.path.join(out, name)): name for name in OUTPUT_NAMES}
    ckpt = _real(os.path.join(out, CHECKPOINT_DIR))
    for f in input_files:
        rf = _real(f)
        if rf in outputs:
            raise ConfigError(f"[output] dir {out_dir}: its {outputs[rf]} would overwrite the input file {f}; "
                              "choose another output directory")
        if rf.startswith(ckpt + os.sep):
            raise ConfigError(f"[output] dir {out_dir}: the input file {f} lies in its checkpoint directory")
    for d in input_dirs:
        rd = _real(d)
        if out == rd or out.startswith(rd + os.sep):
            raise ConfigError(f"[output] dir {out_dir} lies in the input directory {d}, whose files the job reads "
                              "(the outputs would be read as inputs next time); choose another output directory")


class OutputDir:
    """The locked output directory of a running job (a context manager).

    ``with OutputDir(path) as out:`` creates the directory, proves it writable, takes the
    lock and sweeps stale temp files; leaving the block sweeps again (a failed job leaves no
    temp file), removes the lock file and releases the lock.

    Raises
    ------
    ConfigError
        The directory cannot be created or written.
    OutputError
        Another job holds the directory, or the lock's name is a symbolic link.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> "OutputDir":
        out = self.path
        try:
            out.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=out)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise ConfigError(f"[output] dir {out} is not writable ({exc.strerror or exc})") from None
        self._fd = self._lock(out / LOCK_NAME)
        if recover_commit(out):
            log.warning("%s: a commit of outputs was interrupted by a kill; the directory is back to one whole run",
                        out)
        self.sweep(startup=True)
        return self

    @staticmethod
    def _lock(path: Path) -> int:
        """Open and lock ``path``; retried when the file was removed by its holder meanwhile (the lock
        then sits on a file no other job can open, so the name is opened again)."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for _ in range(100):
            try:
                fd = os.open(path, flags, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise OutputError(f"{path} is a symbolic link; refusing to follow it (remove it)") from None
                raise ConfigError(f"[output] dir {path.parent} is not writable ({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                except OSError:
                    holder = "unknown"
                os.close(fd)
                raise OutputError(f"[output] dir {path.parent} is in use by a running job (pid {holder}); wait for "
                                  "it to finish or choose another output directory") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return fd
            os.close(fd)
        raise OutputError(f"{path}: could not take the lock (the file keeps being replaced)")

    def sweep(self, *, startup: bool = False) -> int:
        """Remove this tool's stale temp files at the top level and in the checkpoint directories."""
        n = remove_temp_files(self.path, OUTPUT_NAMES.__contains__)
        ckpt = self.path / CHECKPOINT_DIR
        if ckpt.is_dir() and not ckpt.is_symlink():
            for sub in folders_named(ckpt, CHECKPOINT_SUBDIR):
                n += remove_temp_files(sub.path, lambda name: CHECKPOINT_FILE.fullmatch(name) is not None)
                _remove_if_empty(Path(sub.path))
            _remove_if_empty(ckpt)
        if n and startup:
            log.info("removed %d temp file(s) left in %s by an earlier run that was killed", n, self.path)
        return n

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is not None and self.path.is_dir():
                self.sweep()
        finally:
            if self._fd is not None:
                try:  # removed while still locked: a job that opened the old file retries (see _lock)
                    os.unlink(self.path / LOCK_NAME)
                except OSError:
                    pass
                os.close(self._fd)  # closing releases the flock
                self._fd = None


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:  # not empty (checkpoints kept for a resume), or gone
        pass
