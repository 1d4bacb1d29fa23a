"""Checks on a solve's results before anything is written: finite scores, converged columns."""

from __future__ import annotations

import logging

import torch

from ..errors import ConvergenceError, GraphError
from ..solvers.iteration import PageRankResult

log = logging.getLogger("ranker")

def check_finite(scores: torch.Tensor, what: str) -> None:
    """Refuse to write scores that are not all finite (a defect: say so rather than write NaN)."""
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        raise GraphError(f"{what}: {int(bad.sum())} scores are not finite (NaN or infinite); nothing was written. "
                         "This is a bug: please report it with the input")


def convergence_check(result: PageRankResult, names: list[str], tol: float, policy: str) -> None:
    bad = torch.nonzero(~result.converged).flatten().tolist()
    if not bad:
        return
    j = bad[0]
    msg = (f"{len(bad)} of {len(names)} score columns did not converge; first: {names[j]!r} stopped at "
           f"L1 residual {result.residuals[j].item():.3e} > tol {tol:.1e} after {result.iterations[j].item()} "
           "iterations (raise [rank] max_iter or tol, or set on_nonconvergence = 'warn')")
    if policy == "error":
        raise ConvergenceError(msg)
    log.warning(msg)
