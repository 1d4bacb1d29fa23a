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
    """Times named stages and keeps the seconds for the run metadata."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        log.debug("stage %s: start", name)
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + took
            log.info("stage %s: %.3f s", name, took)


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
