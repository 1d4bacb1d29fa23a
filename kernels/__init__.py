"""Compute kernels for the solvers, installed as ``ranker.kernels``.

Each kernel has a plain-torch reference here (:mod:`ranker.kernels.step`) that runs on any
device; faster implementations must match it and are tested against it:
:mod:`ranker.kernels.triton_step` (a fused Triton kernel, optional: needs ``triton``).
"""

from .step import column_sums, pagerank_step

__all__ = ["column_sums", "pagerank_step"]
