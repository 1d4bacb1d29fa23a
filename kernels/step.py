"""One power-iteration step of batched (personalized) PageRank, in plain torch."""

from __future__ import annotations

import torch


def pagerank_step(
    transition: torch.Tensor,
    x: torch.Tensor,
    teleport: torch.Tensor,
    dangling: torch.Tensor,
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step ``x' = alpha P^T x + (alpha d(x) + 1 - alpha) v`` for every column, and its L1 change.

    Parameters
    ----------
    transition : torch.Tensor
        Sparse CSR ``[n, n]`` column-stochastic ``P^T`` (dangling columns zero), dtype of ``x``.
    x : torch.Tensor
        ``[n, B]`` current scores, each column summing to 1.
    teleport : torch.Tensor
        ``[n, B]`` teleport distributions ``v`` (columns sum to 1), same dtype.
    dangling : torch.Tensor
        ``int64 [d]`` indices of dangling papers.
    alpha : float
        Probability of following a citation.

    Returns
    -------
    x_next : torch.Tensor
        ``[n, B]``, dtype of ``x``.
    residual : torch.Tensor
        ``float64 [B]``: ``sum_i |x_next[i, b] - x[i, b]|``, accumulated in float64.

    Notes
    -----
    Dangling papers hand their score to the teleport distribution (as networkx, igraph and
    cuGraph do), so the mass ``d(x) = sum_{i dangling} x_i`` re-enters through ``v``.
    """
    assert x.dim() == 2 and x.shape == teleport.shape and x.dtype == teleport.dtype
    y = torch.sparse.mm(transition, x) if transition._nnz() else torch.zeros_like(x)
    dangling_mass = x.index_select(0, dangling).sum(0) if dangling.numel() else x.new_zeros(x.shape[1])
    y.mul_(alpha)
    y.addcmul_(teleport, (alpha * dangling_mass + (1.0 - alpha)).unsqueeze(0))
    residual = (y - x).abs().sum(0, dtype=torch.float64)
    return y, residual
