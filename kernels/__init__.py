"""Compute kernels for the solvers, installed as ``ranker.kernels``.

Each kernel has a plain reference that runs on any device, and faster implementations are
tested against it:

- :mod:`ranker.kernels.step`: the power-iteration step in torch; its elementwise half
  compiled for the CPU in :mod:`ranker.kernels.step_cpu` (numba), the whole step fused in
  :mod:`ranker.kernels.triton_step` (Triton, optional: needs ``triton``).
- :mod:`ranker.kernels.condensation` (numba): the condensation plan in one pass of Tarjan's
  algorithm; reference: scipy's components and Kahn's algorithm in :mod:`ranker.solvers.components`.
- :mod:`ranker.kernels.sweep` (numba): the exact sweep over the plan with Gauss-Seidel inside
  components; reference: the torch solver of :mod:`ranker.solvers.dag`.
- :mod:`ranker.kernels.numbering` (numba): ``int64`` ids numbered in order of first appearance
  by one hash table; reference: :func:`ranker.kernels.numbering.number_reference` (a dict).
- :mod:`ranker.kernels.id_parse` (numba): prefix-and-digits string ids parsed to ``int64`` from
  Arrow's buffers; reference: :meth:`ranker.io.id_patterns.IdPattern.encode_reference`.
- :mod:`ranker.kernels.json_depth` (numba): the nesting depth of JSON lines before parsing;
  reference: :func:`ranker.kernels.json_depth.first_deep_line_reference`.
"""

from typing import Any

__all__ = ["column_sums", "pagerank_step"]


def __getattr__(name: str) -> Any:
    """The step's functions, imported when first asked for: importing a numba kernel of this package
    (say to number ids while reading) does not import torch (1.5-2 s cold)."""
    if name in __all__:
        from . import step

        return getattr(step, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
