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
- :mod:`ranker.kernels.csr_build` (numba): the graph's CSR from ingest's pairs by counting;
  reference: :func:`ranker.graph_build.build_from_pairs` sorting the pairs' buffer in place.
- :mod:`ranker.kernels.numbering` (numba): ``int64`` ids numbered in order of first appearance
  by one hash table; reference: :func:`ranker.kernels.numbering.number_reference` (a dict).
- :mod:`ranker.kernels.id_parse` (numba): prefix-and-digits string ids parsed to ``int64`` from
  Arrow's buffers; reference: :meth:`ranker.io.id_patterns.IdPattern.encode_reference`.
- :mod:`ranker.kernels.json_depth` (numba): the nesting depth of JSON lines before parsing;
  reference: :func:`ranker.kernels.json_depth.first_deep_line_reference`.
- :mod:`ranker.kernels.prefetch` (numba): a software prefetch the condensation plan, the
  counted build and the numbering use; a hint with no effect on results (the references of
  the kernels that use it check them).

Which runs: :func:`compiled_pays` (the compiled kernels where they save more than loading them
into a process costs; the references elsewhere, and on GPUs).
"""

import sys
from typing import Any

__all__ = ["COMPILED_MIN", "COMPILED_WORK_MIN", "column_sums", "compiled_pays", "pagerank_step"]

#: Citations from which a job on the CPU runs the compiled (numba) kernels. Below, it runs their
#: plain references (Arrow, scipy, numpy and torch), which cost less there than bringing the
#: compiled kernels into a new process (0.5-0.7 s; on a machine's first run, compiling them:
#: about 15 s). Measured as whole processes on 2 cores, OpenAlex-style URL ids: 500k citations
#: 3.9-4.2 s by the references against 4.4-4.5 s compiled, 1M about even (4.9-6.4 s against
#: 5.3-6.0 s), 4M 6.6-9.4 s against 5.6-6.1 s.
COMPILED_MIN = 1 << 20
#: Citations times columns (seed sets solved at once) from which one solve runs compiled on a
#: smaller graph: the references' sweep costs about 5.5 ns more per citation and column
#: (hep-th, 64 sets: 3 ms against 1.1 ms per set), so they break even with loading the
#: kernels near 90M.
COMPILED_WORK_MIN = 1 << 26


def compiled_pays(citations: int, device: Any = "cpu", columns: int = 1, *, new_process: bool = False) -> bool:
    """Whether work on a graph of ``citations``, ``columns`` at once, runs the compiled kernels on ``device``.

    On the CPU: from :data:`COMPILED_MIN` citations, from :data:`COMPILED_WORK_MIN` citations
    times columns, or whenever numba is already loaded in this process (the fixed cost is paid;
    compiled, every kernel is faster) unless ``new_process`` (the choice a new process makes:
    what ``estimate`` predicts, whatever it loaded itself). GPUs run the references: they are
    their kernels. Every compiled kernel is tested against its reference, so the choice changes
    the time, not the answers beyond the solver's tolerance.
    """
    if str(device).split(":")[0] != "cpu":
        return False
    loaded = "numba" in sys.modules and not new_process
    return citations >= COMPILED_MIN or citations * columns >= COMPILED_WORK_MIN or loaded


def __getattr__(name: str) -> Any:
    """The step's functions, imported when first asked for: importing a numba kernel of this package
    (say to number ids while reading) does not import torch (1.5-2 s cold)."""
    if name in ("column_sums", "pagerank_step"):
        from . import step

        return getattr(step, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
