"""One entry point over the solvers: ``method = auto | dag | power``."""

from __future__ import annotations

import torch

from .dag import dag_pagerank
from .graph import CitationGraph
from .pagerank import IterationCallback, PageRankResult, personalized_pagerank

METHODS = ("auto", "dag", "power")


def describe(method: str, kernel: str, device: torch.device | str) -> str:
    """The solver a job runs, in words (logged, and ``solver`` in ``run.json``)."""
    device = torch.device(device)
    if method == "power" or kernel == "triton":
        return f"power iteration ({'fused Triton step' if kernel == 'triton' else 'torch CSR product'})"
    if device.type == "cpu":
        return "dag: condensation sweep, compiled (Gauss-Seidel in large components, elimination in small ones)"
    return "dag: condensation sweep, torch (Jacobi in large components, dense inverse in small ones)"


def solve(graph: CitationGraph, teleport: torch.Tensor, *, method: str = "auto", alpha: float = 0.85,
          tol: float = 1e-10, max_iter: int = 1000, callback: IterationCallback | None = None,
          kernel: str = "torch", batch_invariant: bool = False) -> PageRankResult:
    """Batched (personalized) PageRank with the chosen method; both give the same fixed point.

    Parameters
    ----------
    graph : CitationGraph
    teleport : torch.Tensor
        ``[n, B]``, columns summing to 1.
    method : {"auto", "dag", "power"}
        ``dag`` (:func:`ranker.dag.dag_pagerank`): topological sweep, iteration on the cyclic
        core only; ``power`` (:func:`ranker.pagerank.personalized_pagerank`): power iteration
        over the whole graph. ``auto`` is ``dag``.
    alpha, tol, max_iter, callback :
        See :func:`ranker.pagerank.personalized_pagerank`.
    kernel : {"torch", "triton"}
        ``triton`` runs the power method with the fused Triton step (whatever ``method`` says).
    batch_invariant : bool
        Each column bit-identical whatever its batch (see :func:`ranker.pagerank.personalized_pagerank`).

    Returns
    -------
    PageRankResult
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "power" or kernel == "triton":
        return personalized_pagerank(graph, teleport, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback,
                                     kernel=kernel, batch_invariant=batch_invariant)
    return dag_pagerank(graph, teleport, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback,
                        batch_invariant=batch_invariant)[0]
