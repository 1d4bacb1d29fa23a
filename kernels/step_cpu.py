"""The elementwise half of a power step, compiled for the CPU (numba).

:func:`ranker.kernels.pagerank_step` runs torch's CSR product, then
``y = alpha y + teleport * coef`` and the L1 change ``sum_i |y_i - x_i|`` of each column. In
torch those are four passes over ``[n, B]`` tensors, a temporary of that size and a transposed
copy for the sums. On a 2M-paper graph with 64 columns that took 3.7 s of a 7.2 s step
(the product itself: 3.5 s). :func:`finish_step` does them in one pass, in place.

Bits: each column is computed alone (elementwise, then its L1 change summed row by row within
fixed blocks of :data:`BLOCK` rows, the blocks in order), so a column's results do not depend
on the other columns of its batch or on the thread count. The plain reference is the torch
epilogue of :func:`ranker.kernels.pagerank_step` (``epilogue="torch"``), tested against it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Rows per block of the L1 change's sum (the blocks are summed in order).
BLOCK = 4096
#: Below this many entries the pass runs on one thread (starting numba's threads costs about a millisecond).
SERIAL_MAX = 1 << 20


@njit(cache=True, nogil=True, inline="always")
def _finish_block(blk, y, x, teleport, coef, alpha, rhs, partial):  # pragma: no cover - compiled
    n, n_cols = y.shape
    lo = blk * BLOCK
    hi = min(n, lo + BLOCK)
    with_rhs = rhs.shape[0] > 0
    for b in range(n_cols):
        partial[blk, b] = 0.0
    for i in range(lo, hi):
        for b in range(n_cols):
            t = alpha * y[i, b] + teleport[i, b] * coef[b]
            if with_rhs:
                t += rhs[i, b]
            y[i, b] = t
            partial[blk, b] += abs(y[i, b] - x[i, b])


@njit(parallel=True, cache=True)
def finish_step(y, x, teleport, coef, alpha, residual, rhs):  # pragma: no cover - compiled
    """``y <- alpha y + teleport * coef (+ rhs)`` in place (``coef [B]`` float64; ``rhs`` of
    ``y``'s shape, or ``[0, 0]`` for none), and ``residual[b] = sum_i |y[i, b] - x[i, b]|`` in
    float64 (``y`` as stored, in its dtype)."""
    n, n_cols = y.shape
    n_blocks = (n + BLOCK - 1) // BLOCK
    partial = np.empty((n_blocks, n_cols), np.float64)
    if n * n_cols < SERIAL_MAX:
        for blk in range(n_blocks):
            _finish_block(blk, y, x, teleport, coef, alpha, rhs, partial)
    else:
        for blk in prange(n_blocks):
            _finish_block(blk, y, x, teleport, coef, alpha, rhs, partial)
    for b in range(n_cols):
        residual[b] = 0.0
    for blk in range(n_blocks):
        for b in range(n_cols):
            residual[b] += partial[blk, b]
