"""One loop for the batched stages: columns solved a batch at a time, each finished batch
checkpointed, a rerun taking verified batches back instead of solving them again.

The personalized stage (seed sets) and the trajectories stage (years) both run it; what differs
is how a batch is solved and turned into rows (``solve``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..io.checkpoints import Checkpoints
from ..progress import progress_bar
from ..solvers.iteration import IterationCallback, PageRankResult
from .checks import convergence_check
from .context import JobContext

log = logging.getLogger("ranker")

#: ``solve(batch, lo, hi, callback)``: the batch's result and a function that makes its rows
#: (called on rank 0 only).
BatchSolve = Callable[[int, int, int, IterationCallback], tuple[PageRankResult, Callable[[], pa.Table]]]


@dataclass
class BatchResults:
    """What the loop gathered: the rows of every batch (rank 0) and each column's iterations and residual."""

    tables: list[pa.Table] = field(default_factory=list)
    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    batches: int = 0
    resumed: int = 0


def run_batches(ctx: JobContext, ckpt: Checkpoints, *, what: str, unit: str, names: list[str], batch: int,
                keep: int | list[int], schema: pa.Schema, solve: BatchSolve, collective: bool) -> BatchResults:
    """Solve ``names`` (one column each) ``batch`` at a time, checkpointing each finished batch.

    A batch is taken from its checkpoint when :meth:`Checkpoints.read` verifies it (``keep``: the
    rows per column it must hold). ``collective``: every rank runs the loop and follows rank 0's
    resume decisions (the engine's batches are collective); otherwise this process runs it alone.
    Progress: a bar on a terminal, else one log line per batch (:class:`BatchTicker`).
    """
    comm = ctx.comm
    root = comm.is_root or not collective
    n = len(names)
    out = BatchResults(iterations=np.zeros(n, np.int64), residuals=np.zeros(n, np.float64),
                       batches=(n + batch - 1) // batch)
    ticker = BatchTicker(what, out.batches, unit=unit, enabled=root)
    with progress_bar(what, out.batches, enabled=ctx.show) as advance:
        for bi in range(out.batches):
            lo, hi = bi * batch, min(n, (bi + 1) * batch)
            k = keep if isinstance(keep, int) else keep[lo:hi]
            info = ckpt.read(bi, names[lo:hi], k, ctx.ids, schema) if root else None
            if comm.follow_root(info is not None) if collective else info is not None:
                if info is not None:
                    out.iterations[lo:hi], out.residuals[lo:hi] = info["iterations"], info["residuals"]
                    out.tables.append(info["table"])
                out.resumed += 1
                advance(1)
                ticker.tick(hi - lo, resumed=True)
                continue
            curve = ctx.curves.setdefault(f"{what} batch {bi + 1}", [])

            def callback(it: int, r: float, active: int, curve: list = curve) -> None:
                curve.append((int(it), float(r)))

            res, rows = solve(bi, lo, hi, callback)
            convergence_check(res, names[lo:hi], ctx.cfg.rank.tol, ctx.cfg.rank.on_nonconvergence)
            out.iterations[lo:hi], out.residuals[lo:hi] = res.iterations.numpy(), res.residuals.numpy()
            with comm.phase("write checkpoint") if collective else nullcontext():
                if root:
                    table = rows()
                    ckpt.write(bi, table, names[lo:hi], out.iterations[lo:hi].tolist(),
                               out.residuals[lo:hi].tolist())
                    out.tables.append(table)
            top = int(out.iterations[lo:hi].max())
            advance(1, iterations=top)
            ticker.tick(hi - lo, iterations=top, residual=float(out.residuals[lo:hi].max()))
    if out.resumed and root:
        log.info("resumed: %d of %d batch(es) of %s taken from checkpoints in %s", out.resumed, out.batches, unit,
                 ckpt.dir)
    return out


class BatchTicker:
    """Progress of a batch loop as log lines, for logs that are not a terminal (no progress bar).

    One INFO line per batch, or at most one every ``every_s`` seconds when there are more than
    100 batches (the last batch always logs): done/total, columns, iterations, residual,
    elapsed time and an estimate of the time left.
    """

    def __init__(self, what: str, total: int, *, unit: str = "seed sets", enabled: bool = True,
                 every_s: float = 10.0) -> None:
        self.what, self.total, self.unit, self.enabled = what, total, unit, enabled
        self.every_s = every_s if total > 100 else 0.0
        self.done = 0
        self.start = self.last = time.perf_counter()

    def tick(self, columns: int, **facts: Any) -> None:
        self.done += 1
        now = time.perf_counter()
        if not self.enabled or (now - self.last < self.every_s and self.done < self.total):
            return
        self.last = now
        elapsed = now - self.start
        left = elapsed / self.done * (self.total - self.done)
        line = "".join(f", {k} {v:.2e}" if isinstance(v, float) else f", {k} {v}" for k, v in facts.items())
        log.info("%s batch %d/%d: %d %s%s; %.1f s elapsed, about %.1f s left", self.what, self.done,
                 self.total, columns, self.unit, line, elapsed, left)
