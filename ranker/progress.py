"""Logging, progress bars and per-stage timings for long runs."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

log = logging.getLogger("ranker")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_console = Console(stderr=True)


def setup_logging(*, quiet: bool = False, debug: bool = False) -> None:
    """Send the ``ranker`` log to stderr through rich (INFO, DEBUG with ``debug``, WARNING with ``quiet``)."""
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    log.handlers.clear()
    handler: logging.Handler
    if _console.is_terminal:
        handler = RichHandler(console=_console, show_path=debug, rich_tracebacks=debug, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # batch logs: one plain line per record, never wrapped
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


class StageTimes:
    """Times named stages and measures each one's peak resident memory, for the log and the run metadata.

    The peak of a stage is the largest resident size of the process while it ran, sampled
    every :data:`SAMPLE_S` seconds by a background thread (:class:`MemorySampler`) and at the
    stage's start and end. A stage run inside another counts in the outer stage's peak too.
    The kernel's own high-water mark is never reset, so ``/usr/bin/time -v`` still reports the
    whole process's peak (a stage peak can miss a spike shorter than a sample, 0.1 s;
    allocating and touching a gigabyte takes longer).
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        log.debug("stage %s: start", name)
        watch = MemorySampler.shared().watch()
        try:
            yield
        finally:
            took = time.perf_counter() - start
            peak = MemorySampler.shared().unwatch(watch)
            self.seconds[name] = self.seconds.get(name, 0.0) + took
            self.peak_bytes[name] = max(self.peak_bytes.get(name, 0), peak)
            log.info("stage %s: %.3f s, peak memory %.2f GB", name, took, peak / 1e9)


#: Seconds between two samples of the resident size (each takes the GIL: every 20 ms cost 7% of a
#: 2M-paper job, every 100 ms nothing measurable).
SAMPLE_S = 0.1


class MemorySampler:
    """One daemon thread that reads the resident size every :data:`SAMPLE_S` s while a stage is watched."""

    _instance: "MemorySampler | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._watches: dict[int, int] = {}
        self._next = 0
        #: Samples taken so far by the thread (a count for logs and tests).
        self.samples = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def shared(cls) -> "MemorySampler":
        with cls._lock:
            if cls._instance is None:
                cls._instance = MemorySampler()
            return cls._instance

    def watch(self) -> int:
        """Start a watch; returns its key for :meth:`unwatch`."""
        now = rss()
        with self._lock:
            key, self._next = self._next, self._next + 1
            self._watches[key] = now
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ranker-memory", daemon=True)
                self._thread.start()
        self._wake.set()
        return key

    def unwatch(self, key: int) -> int:
        """End a watch; returns the largest resident size (bytes) seen during it."""
        now = rss()
        with self._lock:
            return max(self._watches.pop(key, 0), now)

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before looking: a watch that starts after the look sets it again
            with self._lock:
                idle = not self._watches
            if idle:
                self._wake.wait()
                continue
            now = rss()
            with self._lock:
                self.samples += 1
                for key, peak in self._watches.items():
                    if now > peak:
                        self._watches[key] = now
            time.sleep(SAMPLE_S)


def rss() -> int:
    """Bytes: this process's resident size now (Linux ``/proc/self/statm``; the peak so far elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def peak_rss() -> int:
    """Bytes: this process's resident-memory high-water mark (what ``/usr/bin/time -v`` reports)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr; yields ``advance(n=1, **fields)``.

    Hidden when ``enabled`` is false, when the log level is above INFO, or when stderr is not
    a terminal (batch jobs keep a clean log; stage lines still report sizes and times).
    """
    show = enabled and log.isEnabledFor(logging.INFO) and _console.is_terminal
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=_console, transient=True, disable=not show,
    )
    with progress:
        task = progress.add_task(description, total=total, info="")

        def advance(n: int = 1, **fields: object) -> None:
            if fields:
                progress.update(task, advance=n, info=" ".join(f"{k}={v}" for k, v in fields.items()))
            else:
                progress.update(task, advance=n)

        yield advance


@contextlib.contextmanager
def residual_bar(description: str, tol: float, *, enabled: bool = True,
                 history: list[tuple[int, float]] | None = None) -> Iterator[Callable[[int, float, int], None]]:
    """A progress bar of a solve: the L1 residual falling towards ``tol`` on a log scale.

    Yields ``update(iteration, residual, active_columns)`` (an iteration callback of the
    solvers); each call is also appended to ``history`` (the convergence curve of the report).
    The bar is full when the residual reaches ``tol``; it shows the iteration and the residual.
    """
    import math

    first: list[float] = []
    with progress_bar(description, 100, enabled=enabled) as advance:
        done = [0]

        def update(iteration: int, residual: float, active: int = 0) -> None:
            if history is not None:
                history.append((int(iteration), float(residual)))
            if not first:
                first.append(max(residual, tol * 10))
            span = math.log10(first[0]) - math.log10(tol)
            reached = math.log10(first[0]) - math.log10(max(residual, tol))
            target = int(100 * min(1.0, max(0.0, reached / span))) if span > 0 else 100
            advance(max(0, target - done[0]), iteration=iteration, residual=f"{residual:.2e}", tol=f"{tol:.0e}")
            done[0] = max(done[0], target)

        yield update
