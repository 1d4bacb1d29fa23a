"""Compute kernels for the solvers, installed as ``ranker.kernels``.

Each kernel has a plain-torch reference here (:mod:`ranker.kernels.step`) that runs on any
device; faster implementations (Triton) must match it and are tested against it.
"""

from .step import column_sums, pagerank_step

__all__ = ["column_sums", "pagerank_step"]
