"""The iteration every solver of the package runs: columns that leave as they converge, Aitken jumps,
and a float64 solve carried mostly in float32.

Pure functions over tensors (:func:`iterate`, :func:`power_iteration`) and their bookkeeping
(:class:`ColumnTracker`, :class:`Extrapolation`). :mod:`ranker.solvers.power` builds PageRank on them;
:mod:`ranker.solvers.dag` iterates inside large components with them; :mod:`ranker.parallel.distributed_power`
over row blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..kernels.step import column_sums, pagerank_step

#: Called after each iteration with (iteration, largest residual among active columns, active columns).
IterationCallback = Callable[[int, float, int], None]


#: One iteration ``step(transition, x, teleport, dangling, alpha) -> (x_next, residual per column)``
#: (:func:`ranker.kernels.pagerank_step` and the solvers' variants of it).
Step = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass
class PageRankResult:
    """Scores and convergence facts, one entry per column.

    Attributes
    ----------
    scores : torch.Tensor
        ``[n, B]`` in the requested dtype; each column sums to 1.
    iterations : torch.Tensor
        ``int64 [B]`` iterations each column ran.
    residuals : torch.Tensor
        ``float64 [B]`` L1 change of the column's last iteration.
    converged : torch.Tensor
        ``bool [B]``: ``residuals < tol``.
    """

    scores: torch.Tensor
    iterations: torch.Tensor
    residuals: torch.Tensor
    converged: torch.Tensor


#: :func:`power_iteration` starts a float64 solve from a float32 one iterated down to this L1
#: change: a float32 step costs half a float64 one (2M papers, 64 columns: 1.5 s against 3.3 s
#: for torch's CSR product), and float32 iterates keep shrinking well below this (the change
#: stalls near 1e-9 on the 2M-paper one-giant-component graph), so the float64 iteration starts
#: about 1e-7 from its fixed point and runs the last few iterations only.
FLOAT32_START_TOL = 1e-7
#: The float32 correction of :func:`power_iteration` runs until its L1 change is below this share of ``tol``.
REFINE_SHARE = 0.1


#: A batch is narrowed (its running columns copied out) only once more than one column in this
#: many has finished; until then finished columns ride along as padding. Narrowing copies the
#: scores and the teleport columns, about half a step's time on a 2M-paper graph, and with Aitken
#: jumps columns finish over several iterations.
COMPACT_WASTE = 4


class ColumnTracker:
    """Bookkeeping of a batch whose columns leave as they converge.

    Keeps each column's scores, iterations and residuals; :meth:`update` after every
    iteration says which columns go on. Shared by every iteration in the package.

    Finished columns stay in the batch as padding (their results are already stored and no
    longer recorded) until more than one in :data:`COMPACT_WASTE` has finished. With
    ``lanes > 1`` the running width also stays a multiple of ``lanes``, so that every product
    a column takes part in has a width the kernel treats alike (:data:`ranker.solvers.power.LANES`). ``x0``'s
    width must then be a multiple of ``lanes``; columns ``n_real..`` are padding from the start.
    """

    def __init__(self, x0: torch.Tensor, *, tol: float, max_iter: int,
                 callback: IterationCallback | None = None, lanes: int = 1, n_real: int | None = None) -> None:
        n_cols = x0.shape[1]
        n_real = n_cols if n_real is None else n_real
        assert lanes == 1 or n_cols % lanes == 0, "a padded batch's width is a multiple of its lanes"
        self.scores = x0[:, :n_real].clone()
        self.iterations = torch.zeros(n_real, dtype=torch.int64)
        self.residuals = torch.full((n_real,), float("inf"), dtype=torch.float64)
        # original column of each running column, -1 for padding (CPU)
        self.active = torch.cat([torch.arange(n_real), torch.full((n_cols - n_real,), -1)])
        self.tol, self.max_iter, self.callback, self.lanes = tol, max_iter, callback, lanes

    def update(self, it: int, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor | None:
        """Record iteration ``it`` (scores ``x`` and L1 changes ``residual`` of the running columns).

        Returns None when every running column goes on, else the mask (on ``x``'s device) of
        those that do (padding included): finished columns are stored; a mask with no real
        column left means stop.
        """
        res_cpu = residual.cpu()
        real = self.active >= 0
        cols = self.active[real]
        self.iterations[cols] = it
        self.residuals[cols] = res_cpu[real]
        done = (res_cpu < self.tol) & real
        if self.callback is not None:
            self.callback(it, float(res_cpu[real].max()), int(cols.numel()))
        if not (bool(done.any()) or it == self.max_iter):
            return None
        finished = real.clone() if it == self.max_iter else done
        self.scores[:, self.active[finished].to(x.device)] = x[:, finished.to(x.device)]
        keep = real & ~finished
        n_keep = int(keep.sum())
        if n_keep and (keep.numel() - n_keep) * COMPACT_WASTE <= keep.numel():
            self.active[finished] = -1  # finished columns ride along as padding: cheaper than copying the batch
            return None
        if n_keep and n_keep % self.lanes:  # pad back to a multiple of the lanes with columns not kept
            spare = torch.nonzero(~keep).flatten()[: self.lanes - n_keep % self.lanes]
            self.active[spare] = -1
            keep[spare] = True
        elif not n_keep:
            keep[:] = False
        self.active = self.active[keep]
        return keep.to(x.device)

    def result(self) -> PageRankResult:
        return PageRankResult(scores=self.scores, iterations=self.iterations, residuals=self.residuals,
                              converged=self.residuals < self.tol)


#: Aitken jumps in :func:`iterate`. Once the ratio of two successive L1 changes of a column holds
#: steady (within this relative drift, three ratios in a row) and is below ``RATIO_MAX_SHARE *
#: alpha``, the column's error is dominated by one mode ``e_k = rho^k u``, and the iterate jumps to
#: that geometric tail's limit: ``x += rho / (1 - rho) (x - x_prev)``. On the 2M-paper
#: one-giant-component graph the ratio settles at 0.601 from the 12th iteration on (a real positive
#: mode); the jumps take 48 iterations per column to 39.
RATIO_STEADY = 0.01
#: Early iterations of a personalized column spread mass away from the seed and shrink by ``alpha``
#: exactly, however steady; they are no geometric tail to jump along, so ratios at or above this
#: share of ``alpha`` never trigger a jump.
RATIO_MAX_SHARE = 0.9
#: Columns a jump rewrites at once (its two transient copies are ``[n, JUMP_COLUMNS]``).
JUMP_COLUMNS = 8


class Extrapolation:
    """Per-column Aitken jumps of :func:`iterate` (see :data:`RATIO_STEADY`).

    A jump never makes a score negative (a column whose jump would is left as it is, and jumps no
    more), and a jump that does not make the next change smaller than the change the plain step was
    expected to make (``rho`` times the last one) stops the column's jumps: a mode that alternates in
    sign, or an error of several modes, is left to the plain iteration. The step after a jump is
    always a plain one, so a column's recorded change is always an honest one-step change, and a
    column is never stored right after a jump. Decisions use the float64 L1 changes only, and a jump
    rewrites its own column elementwise, so each column is bit-identical whatever its batch.

    References
    ----------
    A. C. Aitken, "On Bernoulli's numerical solution of algebraic equations", Proc. Royal Soc.
    Edinburgh 46, 1926. S. Kamvar, T. Haveliwala, C. Manning, G. Golub, "Extrapolation methods for
    accelerating PageRank computations", WWW 2003.
    """

    def __init__(self, n_cols: int, alpha: float, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None):
        zeros = lambda: torch.zeros(n_cols, dtype=torch.float64)  # noqa: E731
        self.last, self.ratio, self.expect = zeros(), zeros(), zeros()
        self.streak = torch.zeros(n_cols, dtype=torch.int64)
        self.off = torch.zeros(n_cols, dtype=torch.bool)
        self.limit, self.reduce, self.jumps = RATIO_MAX_SHARE * alpha, reduce, 0

    def after_step(self, x: torch.Tensor, y: torch.Tensor, residual: torch.Tensor, may_jump: torch.Tensor) -> None:
        """Record the L1 changes ``residual`` (float64, CPU) of the step ``x -> y`` and jump, in place in
        ``y``, the columns whose changes shrink steadily; ``may_jump`` (bool, CPU) marks the columns
        that go on (not finished, not padding)."""
        ratio = torch.where(self.last > 0, residual / self.last.clamp_min(torch.finfo(torch.float64).tiny),
                            torch.zeros_like(residual))
        after = self.expect > 0
        self.off |= after & (residual >= self.expect)
        self.expect[after] = 0.0
        steady = (ratio > 0) & ((ratio - self.ratio).abs() < RATIO_STEADY * ratio)
        self.streak = torch.where(steady, self.streak + 1, torch.zeros_like(self.streak))
        self.ratio, self.last = ratio, residual.clone()
        go = (self.streak >= 2) & (ratio < self.limit) & ~self.off & may_jump
        # every process takes the same decisions (the changes are whole-column sums), so the
        # reduces inside the jumps pair up
        for chunk in torch.nonzero(go).flatten().split(JUMP_COLUMNS):
            self._jump(x, y, chunk)

    def _jump(self, x: torch.Tensor, y: torch.Tensor, cols: torch.Tensor) -> None:
        rho = self.ratio[cols]
        on = cols.to(y.device)
        z = y.index_select(1, on)
        d = x.index_select(1, on)
        # z + rho/(1-rho) (z - x): three roundings, each exact per element (x - z is -(z - x) bit for bit)
        d.sub_(z).mul_((-rho / (1.0 - rho)).to(d.device, d.dtype))
        z.add_(d)
        negative = (z < 0).sum(0).to(torch.float64)
        if self.reduce is not None:
            negative = self.reduce(negative)
        ok = negative.cpu() == 0
        self.off[cols[~ok]] = True
        if bool(ok.any()):
            y[:, on[ok.to(y.device)]] = z[:, ok.to(z.device)]
            good = cols[ok]
            self.expect[good] = self.last[good] * rho[ok]
            self.last[good] = 0.0
            self.ratio[good] = 0.0
            self.streak[good] = 0
            self.jumps += int(good.numel())

    def keep(self, mask: torch.Tensor) -> None:
        """Keep the state of the columns ``mask`` (bool, CPU) marks, as the batch shrinks."""
        for name in ("last", "ratio", "expect", "streak", "off"):
            setattr(self, name, getattr(self, name)[mask])


def pad_columns(t: torch.Tensor, lanes: int) -> torch.Tensor:
    """``t [n, B]`` widened to a multiple of ``lanes`` columns with copies of its first column."""
    missing = (-t.shape[1]) % lanes
    if not missing:
        return t
    return torch.cat([t, t[:, :1].expand(t.shape[0], missing)], 1)


def iterate(transition: torch.Tensor, x0: torch.Tensor, teleport: torch.Tensor, dangling: torch.Tensor, *,
            alpha: float, tol: float, max_iter: int, callback: IterationCallback | None = None,
            step: Step = pagerank_step, lanes: int = 1, extrapolate: bool = True,
            reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
            rhs: torch.Tensor | None = None,
            on_narrow: Callable[[torch.Tensor], None] | None = None) -> PageRankResult:
    """Repeat :func:`ranker.kernels.pagerank_step` from ``x0``, each column until its L1 change < ``tol``.

    A column leaves the batch as soon as it converges. Shared by the power solver and the
    Jacobi iteration inside the components of :mod:`ranker.solvers.dag`. With ``lanes > 1`` every product has a width
    that is a multiple of ``lanes`` (columns are padded, see :class:`ColumnTracker`), which
    makes each column's result independent of its batch. With ``extrapolate`` a column whose
    changes shrink at a steady ratio jumps to its geometric limit (:class:`Extrapolation`);
    ``reduce`` sums a ``float64 [B]`` tensor over processes when ``x`` is one block of rows.
    ``rhs`` (``[n, B]``) is handed to every step (``step(..., rhs=rhs)``, the columns still
    running): the correction equation of :func:`power_iteration`. ``on_narrow(keep)`` is called
    with the mask of the columns kept each time the batch narrows (a step whose work differs by
    column follows its columns with it: :func:`ranker.solvers.snapshots.snapshot_pagerank`).
    """
    n_real = x0.shape[1]
    if lanes > 1:
        x0, teleport = pad_columns(x0, lanes), pad_columns(teleport, lanes)
        rhs = None if rhs is None else pad_columns(rhs, lanes)
    cols = ColumnTracker(x0, tol=tol, max_iter=max_iter, callback=callback, lanes=lanes, n_real=n_real)
    jumps = Extrapolation(x0.shape[1], alpha, reduce) if extrapolate else None
    x = x0.clone()
    v = teleport
    for it in range(1, max_iter + 1):
        y, res = step(transition, x, v, dangling, alpha) if rhs is None else step(transition, x, v, dangling,
                                                                                  alpha, rhs=rhs)
        res = res.cpu()
        if jumps is not None and it < max_iter:
            jumps.after_step(x, y, res, (res >= tol) & (cols.active >= 0))
        keep = cols.update(it, y, res)
        x = y
        if keep is None:
            continue
        if not bool((cols.active >= 0).any()):
            break
        x, v = x[:, keep].contiguous(), v[:, keep].contiguous()
        rhs = None if rhs is None else rhs[:, keep].contiguous()
        if jumps is not None:
            jumps.keep(keep.cpu())
        if on_narrow is not None:
            on_narrow(keep)
    return cols.result()


def power_iteration(transition: Callable[[torch.dtype], torch.Tensor], teleport: torch.Tensor,
                    dangling: torch.Tensor, *, alpha: float, tol: float, max_iter: int,
                    callback: IterationCallback | None = None, step: Step = pagerank_step,
                    lanes: int = 1,
                    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    float32_start: bool | None = None) -> PageRankResult:
    """Power iteration from ``teleport`` (:func:`iterate`); a float64 solve mostly in float32.

    ``transition(dtype)`` is the CSR ``P^T`` in ``dtype``. With ``float32_start`` (None: when
    ``teleport`` is float64 and ``tol`` below :data:`FLOAT32_START_TOL`):

    1. the columns iterate in float32 down to an L1 change of :data:`FLOAT32_START_TOL`
       (each column then rescaled to sum 1);
    2. a float64 step ``y = G(x)`` gives each column's change ``r = y - x``; a column whose
       L1 change is below ``tol`` is done, with ``y``, as in :func:`iterate`;
    3. the others solve the correction ``e = M e + r`` (``M x = alpha P^T x + alpha d(x) v``,
       so that ``x + e`` is the fixed point) in float32, down to a change of
       ``tol * REFINE_SHARE``, and go on from ``x + e`` at step 2.

    float32 carries about 7 digits, so one correction takes a ``1e-7`` start to about ``1e-13``:
    one round and a last float64 step usually finish. The float64 steps alone decide
    convergence, so the fixed point and the stopping rule are float64's. ``iterations`` counts
    every step of both precisions; ``callback`` numbers them in the order they run.

    References
    ----------
    J. H. Wilkinson, "Rounding errors in algebraic processes", 1963 (iterative refinement);
    N. J. Higham, "Accuracy and stability of numerical algorithms", 2nd ed., SIAM 2002, ch. 12.
    """
    if float32_start is None:
        float32_start = teleport.dtype == torch.float64 and tol < FLOAT32_START_TOL
    if not float32_start or teleport.dtype != torch.float64 or max_iter < 2:
        return iterate(transition(teleport.dtype), teleport, teleport, dangling, alpha=alpha, tol=tol,
                       max_iter=max_iter, callback=callback, step=step, lanes=lanes, reduce=reduce)
    counted = [0]

    def numbered(it: int, res: float, active: int) -> None:  # every step in the order it runs
        counted[0] += 1
        if callback is not None:
            callback(counted[0], res, active)

    # float32 cannot stall above 1e-7 on rounding; a start that does anyway is only a slower start
    cap = max(1, math.ceil(math.log(REFINE_SHARE * FLOAT32_START_TOL) / math.log(alpha)))
    v32 = teleport.to(torch.float32)
    start = iterate(transition(torch.float32), v32, v32, dangling, alpha=alpha, tol=max(tol, FLOAT32_START_TOL),
                    max_iter=min(max_iter // 2, cap), callback=numbered, step=step, lanes=lanes, reduce=reduce)
    # float32's P^T is column-stochastic to rounding only, so the start's columns miss 1 by about
    # 1e-7; that error would shrink by alpha per iteration only (the Perron mode), so it goes first
    x = start.scores.to(teleport.dtype)
    x.div_((column_sums(x) if reduce is None else reduce(column_sums(x))).to(x.device, x.dtype))
    n_real = teleport.shape[1]
    x, v, v32 = pad_columns(x, lanes), pad_columns(teleport, lanes), pad_columns(v32, lanes)
    cols = ColumnTracker(x, tol=tol, max_iter=max_iter, lanes=lanes, n_real=n_real)
    spent = start.iterations.clone()  # steps per column: the start's, the corrections' and the float64 ones
    t64, t32 = transition(teleport.dtype), transition(torch.float32)
    for rnd in range(1, max_iter + 1):
        y, res = step(t64, x, v, dangling, alpha)
        res = res.cpu()
        real = cols.active >= 0
        numbered(0, float(res[real].max()), int(real.sum()))
        spent[cols.active[real]] += 1
        room = max_iter - int(spent[cols.active[real]].max())  # steps left to the most-stepped column
        keep = cols.update(max_iter if room <= 0 else rnd, y, res)
        if keep is not None:
            if not bool((cols.active >= 0).any()):
                break
            x, y, v, v32 = (t[:, keep].contiguous() for t in (x, y, v, v32))
        if room < 2:  # no room for a correction and the float64 step after it: a plain step
            x = y
            continue
        r = (y - x).to(torch.float32)
        del y
        e = iterate(t32, r, v32, dangling, alpha=alpha, tol=tol * REFINE_SHARE, max_iter=min(cap, room - 1),
                    callback=numbered, step=step, lanes=lanes, reduce=reduce, rhs=r)
        del r
        x.add_(e.scores.to(x.dtype))
        real = cols.active >= 0
        spent[cols.active[real]] += e.iterations[real]
    out = cols.result()
    out.iterations = spent
    return out
