"""A fused Triton kernel for one batched PageRank step over a CSR matrix.

One program per row ``j`` of ``P^T`` (a cited paper). It gathers the scores of the row's
citers for all ``B`` columns at once, and in the same pass adds the teleport and dangling
terms and accumulates the L1 change:

    y[j, :] = alpha * sum_e w_e x[col_e, :] + coef[:] * v[j, :]
    res[:] += |y[j, :] - x[j, :]|

``w_e`` is the stored transition value, or, for a structure-only matrix (no values: 4 bytes
per citation with int32 indices), ``1 / out_weight[col_e]`` read from a per-paper vector.
``coef = alpha * d(x) + 1 - alpha`` (the dangling mass) is computed by the wrapper first.

The plain-torch reference is :func:`ranker.kernels.pagerank_step`; tests compare the two on
the CPU under ``TRITON_INTERPRET=1``. On a GPU the residual's atomic adds make its last bits
depend on scheduling; the scores do not (each row is summed by one program in CSR order).
"""

from __future__ import annotations

import os

import torch

from .step import column_sums

try:  # Triton is optional: the torch reference always works
    import triton
    import triton.language as tl

    HAVE_TRITON = True
except ImportError:  # pragma: no cover - exercised where triton is absent
    HAVE_TRITON = False


def available(device: torch.device) -> bool:
    """Whether the kernel can run on ``device``: CUDA with Triton, or the CPU under ``TRITON_INTERPRET=1``."""
    if not HAVE_TRITON:
        return False
    if device.type == "cuda":
        return True
    return os.environ.get("TRITON_INTERPRET") == "1"


if HAVE_TRITON:

    @triton.jit
    def _step_kernel(crow_ptr, col_ptr, val_ptr, inv_ptr, x_ptr, v_ptr, coef_ptr, y_ptr, res_ptr, B, alpha,
                     HAS_VALUES: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_B: tl.constexpr):
        row = tl.program_id(0).to(tl.int64)
        start = tl.load(crow_ptr + row).to(tl.int64)
        end = tl.load(crow_ptr + row + 1).to(tl.int64)
        cols_b = tl.arange(0, BLOCK_B)
        bmask = cols_b < B
        xr = tl.load(x_ptr + row * B + cols_b, mask=bmask, other=0.0)
        acc = tl.zeros([BLOCK_B], dtype=xr.dtype)
        for e0 in range(start, end, BLOCK_E):
            eo = e0 + tl.arange(0, BLOCK_E)
            emask = eo < end
            c = tl.load(col_ptr + eo, mask=emask, other=0).to(tl.int64)
            if HAS_VALUES:
                w = tl.load(val_ptr + eo, mask=emask, other=0.0)
            else:
                w = tl.load(inv_ptr + c, mask=emask, other=0.0)
            xs = tl.load(x_ptr + c[:, None] * B + cols_b[None, :], mask=emask[:, None] & bmask[None, :], other=0.0)
            acc += tl.sum(xs * w[:, None], axis=0)
        vr = tl.load(v_ptr + row * B + cols_b, mask=bmask, other=0.0)
        coef = tl.load(coef_ptr + cols_b, mask=bmask, other=0.0)
        y = alpha * acc + coef * vr
        tl.store(y_ptr + row * B + cols_b, y, mask=bmask)
        tl.atomic_add(res_ptr + cols_b, tl.abs(y - xr).to(tl.float64), mask=bmask)


def pagerank_step_triton(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor | None,
                         inv_out_weight: torch.Tensor | None, x: torch.Tensor, teleport: torch.Tensor,
                         dangling: torch.Tensor, alpha: float, *,
                         block_e: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused step; same results as :func:`ranker.kernels.pagerank_step`.

    Parameters
    ----------
    crow, col : torch.Tensor
        CSR row pointers ``[n + 1]`` and column indices ``[nnz]`` of ``P^T`` (int32 or int64).
    values : torch.Tensor or None
        ``[nnz]`` transition values in ``x.dtype``; None for a structure-only matrix.
    inv_out_weight : torch.Tensor or None
        ``[n]`` ``1 / out_weight`` (0 for dangling papers) in ``x.dtype``; required when
        ``values`` is None (unweighted graphs only).
    x, teleport : torch.Tensor
        ``[n, B]`` contiguous, float32 or float64.
    dangling : torch.Tensor
        ``int64`` indices of dangling papers.
    alpha : float
    block_e : int
        Citations gathered per inner step (a power of two).

    Returns
    -------
    y : torch.Tensor
        ``[n, B]``.
    residual : torch.Tensor
        ``float64 [B]`` L1 change.

    Raises
    ------
    RuntimeError
        Triton cannot run on this device (no CUDA and no ``TRITON_INTERPRET=1``).
    """
    if not available(x.device):
        raise RuntimeError(f"the Triton kernel cannot run on {x.device} "
                           "(install triton; on the CPU set TRITON_INTERPRET=1)")
    n, b = x.shape
    assert crow.numel() == n + 1 and x.is_contiguous() and teleport.is_contiguous() and teleport.shape == x.shape
    assert x.dtype in (torch.float32, torch.float64) and teleport.dtype == x.dtype
    assert (values is None) != (inv_out_weight is None), "give values or inv_out_weight"
    coef = (alpha * column_sums(x.index_select(0, dangling)) + (1.0 - alpha)).to(x.dtype)
    y = torch.empty_like(x)
    res = torch.zeros(b, dtype=torch.float64, device=x.device)
    if n == 0:
        return y, res
    dummy = x.new_zeros(1)
    _step_kernel[(n,)](crow, col, values if values is not None else dummy,
                       inv_out_weight if inv_out_weight is not None else dummy, x, teleport, coef, y, res, b,
                       float(alpha), HAS_VALUES=values is not None, BLOCK_E=block_e,
                       BLOCK_B=max(1, triton.next_power_of_2(b)))
    return y, res
