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

__all__ = ["COMPILED_MIN", "column_sums", "compiled_pays", "pagerank_step"]

#: Work, in citations times columns (seed sets solved at once), from which the CPU runs the
#: compiled (numba) kernels. Below, it runs their plain references (Arrow, scipy, numpy and
#: torch), which cost less there than loading the compiled kernels into a new process
#: (0.5-0.7 s; on a machine's first run, compiling them: about 15 s). Measured on 2 cores,
#: warm: the references' plan, renumbering and solve cost about 0.17 us more per citation
#: (hep-th, 353k citations: 0.07 s against 0.01 s; 10M citations: 3.1 s against 0.9 s), so
#: the two break even near 3-4M citations once the kernels are compiled; a batch of seed sets
#: multiplies the solve's work, and 64 sets on hep-th run compiled.
COMPILED_MIN = 1 << 22


def compiled_pays(work: int, device: Any = "cpu") -> bool:
    """Whether ``work`` (citations, times the columns solved at once) on ``device`` runs the
    compiled kernels (:data:`COMPILED_MIN`).

    Every compiled kernel is tested against its reference, so the choice changes the time a
    small job takes, not its answers beyond the solver's tolerance (GPUs run the references:
    False there).
    """
    return str(device).split(":")[0] == "cpu" and work >= COMPILED_MIN


def __getattr__(name: str) -> Any:
    """The step's functions, imported when first asked for: importing a numba kernel of this package
    (say to number ids while reading) does not import torch (1.5-2 s cold)."""
    if name in ("column_sums", "pagerank_step"):
        from . import step

        return getattr(step, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
