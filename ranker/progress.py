"""Logging, progress bars and per-stage timings for long runs."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

log = logging.getLogger("ranker")
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

    The peak is the process's high-water mark of resident memory (``VmHWM``) while the stage
    ran: Linux lets a process reset its mark (``/proc/self/clear_refs``, value 5), so each stage
    starts from its own resident size. A stage run inside another counts in the outer stage's
    peak too. Where the mark cannot be reset (another system), the peak is the process's peak
    so far (``ru_maxrss``), and the log says so.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_bytes: dict[str, int] = {}
        self._open: list[int] = []  # the running peak of each stage entered and not left

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        log.debug("stage %s: start", name)
        if self._open:
            self._open[-1] = max(self._open[-1], peak_rss())
        resettable = reset_peak_rss()
        self._open.append(0)
        try:
            yield
        finally:
            took = time.perf_counter() - start
            peak = max(self._open.pop(), peak_rss())
            if self._open:
                self._open[-1] = max(self._open[-1], peak)
            reset_peak_rss()
            self.seconds[name] = self.seconds.get(name, 0.0) + took
            self.peak_bytes[name] = max(self.peak_bytes.get(name, 0), peak)
            log.info("stage %s: %.3f s, peak memory %.2f GB%s", name, took, peak / 1e9,
                     "" if resettable else " (process peak so far)")


def reset_peak_rss() -> bool:
    """Reset this process's resident-memory high-water mark to its current size (Linux); False elsewhere."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """Bytes: this process's resident-memory high-water mark (since the last :func:`reset_peak_rss`)."""
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
            progress.update(task, advance=n, **({"info": " ".join(f"{k}={v}" for k, v in fields.items())}
                                                if fields else {}))

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
