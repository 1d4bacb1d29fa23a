"""One entry point over the solvers: ``method = auto | dag | power``."""

from __future__ import annotations

import torch

from ..choices import METHODS
from ..graph import CitationGraph
from ..kernels import compiled_pays
from .dag import dag_pagerank, leveled
from .iteration import IterationCallback, PageRankResult
from .power import check_walk, personalized_pagerank

#: ``method = "auto"`` runs the power method when one strongly connected component holds more
#: than this share of the papers: the DAG solver then iterates nearly the whole graph, one
#: paper after another (Gauss-Seidel), while the power method's product splits over cores.
#: Measured on a 2M-paper graph whose largest component holds 97.5% of the papers: power 11.6 s
#: (47 iterations), Gauss-Seidel with Aitken jumps in the component 21.6 s (34 sweeps), PRPACK 34.7 s.
GIANT_SHARE = 0.5


def choose_method(graph: CitationGraph, method: str = "auto") -> str:
    """``"dag"`` or ``"power"``: what ``method`` means for ``graph``.

    ``auto`` is ``dag`` unless the graph's largest strongly connected component holds more
    than :data:`GIANT_SHARE` of its papers (the plan is computed, and cached, to know).
    """
    if method != "auto":
        return method
    if graph.n == 0:
        return "dag"
    _, plan = leveled(graph)
    return "power" if plan.facts.get("largest_component", 1) > GIANT_SHARE * graph.n else "dag"


def describe(method: str, kernel: str, device: torch.device | str, citations: int) -> str:
    """The solver a job runs on a graph of ``citations``, in words (logged, and ``solver`` in
    ``run.json``); ``method`` as :func:`choose_method` resolved it."""
    device = torch.device(device)
    if method == "power" or kernel == "triton":
        return f"power iteration ({'fused Triton step' if kernel == 'triton' else 'torch CSR product'})"
    if compiled_pays(citations, device):
        return "dag: condensation sweep, compiled (Gauss-Seidel in large components, elimination in small ones)"
    return "dag: condensation sweep, torch (Jacobi in large components, dense inverse in small ones)"


def solve(graph: CitationGraph, teleport: torch.Tensor, *, method: str = "auto", alpha: float = 0.85,
          tol: float = 1e-10, max_iter: int = 1000, callback: IterationCallback | None = None,
          kernel: str = "torch", batch_invariant: bool = False,
          float32_start: bool | None = None) -> PageRankResult:
    """Batched (personalized) PageRank with the chosen method; both give the same fixed point.

    Parameters
    ----------
    graph : CitationGraph
    teleport : torch.Tensor
        ``[n, B]``, columns summing to 1.
    method : {"auto", "dag", "power"}
        ``dag`` (:func:`ranker.solvers.dag.dag_pagerank`): topological sweep, iteration on the cyclic
        core only; ``power`` (:func:`ranker.solvers.power.personalized_pagerank`): power iteration
        over the whole graph. ``auto``: ``dag``, or ``power`` when one component holds most
        papers (:func:`choose_method`).
    alpha, tol, max_iter, callback :
        See :func:`ranker.solvers.power.personalized_pagerank`.
    kernel : {"torch", "triton"}
        ``triton`` runs the power method with the fused Triton step (whatever ``method`` says).
    batch_invariant : bool
        Each column bit-identical whatever its batch (see :func:`ranker.solvers.power.personalized_pagerank`).
    float32_start : bool, optional
        The power method's float64 solve mostly in float32 (:func:`ranker.solvers.power.power_iteration`).

    Returns
    -------
    PageRankResult
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_walk(alpha, tol, max_iter)
    method = choose_method(graph, method)
    if method == "power" or kernel == "triton":
        return personalized_pagerank(graph, teleport, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback,
                                     kernel=kernel, batch_invariant=batch_invariant, float32_start=float32_start)
    return dag_pagerank(graph, teleport, alpha=alpha, tol=tol, max_iter=max_iter, callback=callback,
                        batch_invariant=batch_invariant)[0]
