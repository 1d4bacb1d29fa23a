"""Run a job: one walk over :data:`ranker.job.stages.STAGES`, on one process or on many.

:func:`run_job` picks the communicator (:class:`ranker.parallel.comm.SoloComm` on one process;
:class:`ranker.parallel.comm.Comm` when ``torchrun`` started several) and the engine that goes
with it, checks what the job asks against what they can do, takes the output directory, and
runs the stages. Outputs are staged under temp names and committed together when the job has
finished, ``run.json`` last: whatever stops the job (an error on any rank, Ctrl-C, SIGTERM),
the previous complete run's files stay as they were and no new file appears under a final name.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import torch

from .. import __version__
from ..config import JobConfig
from ..devices import device_name, resolve_device
from ..errors import ConfigError
from ..io import IdMap, StagedOutputs, WrittenTable, write_json_atomic
from ..io.checkpoints import Checkpoints
from ..io.formats import remove_converted
from ..io.listing import citation_files
from ..io.output_dir import OUTPUT_NAMES, OutputDir, check_inputs_apart
from ..progress import peak_rss
from ..solvers.iteration import PageRankResult
from .context import JobContext
from .local_engine import LocalEngine
from .partitioned_engine import PartitionedEngine
from .stages import STAGES, Stage

if TYPE_CHECKING:
    from ..parallel.comm import Communicator

log = logging.getLogger("ranker")


@dataclass
class RunResult:
    """What a job produced: the graph, the ids, the scores and the metadata written to run.json.

    Under several processes, rank 0's holds the whole graph's ids and global scores, and the
    other ranks' their block's (``graph`` is then this rank's
    :class:`ranker.parallel.partition.PartitionedGraph`, ``metadata`` and ``outputs`` empty).
    """

    graph: Any
    ids: IdMap
    global_result: PageRankResult
    metadata: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pa.Table | WrittenTable] = field(default_factory=dict)

    def table(self, name: str) -> pa.Table | None:
        """The output ``name`` as an Arrow table (None when the job did not write it); one written in
        slices (papers.parquet) is read back from the output directory."""
        t = self.tables.get(name)
        return t.read() if isinstance(t, WrittenTable) else t

    @property
    def papers(self) -> pa.Table | None:
        """papers.parquet as an Arrow table (``.to_pandas()``; ``polars.from_arrow``)."""
        return self.table("papers")

    @property
    def personalized(self) -> pa.Table | None:
        """personalized.parquet: each seed set's top papers (None without ``[personalize]``)."""
        return self.table("personalized")

    @property
    def trajectories(self) -> pa.Table | None:
        """trajectories.parquet: each year's top papers (None without ``[trajectories]``)."""
        return self.table("trajectories")

    @property
    def authors(self) -> pa.Table | None:
        """authors.parquet (None without authorships)."""
        return self.table("authors")

    @property
    def credit(self) -> pa.Table | None:
        """credit.parquet (None without ``[credit]``)."""
        return self.table("credit")


def run_job(cfg: JobConfig, *, show_progress: bool = True) -> RunResult:
    """Run a validated job end to end and write its outputs.

    Parameters
    ----------
    cfg : JobConfig
        From :func:`ranker.config.load_config`.
    show_progress : bool
        Progress bars on a terminal.

    Returns
    -------
    RunResult

    Raises
    ------
    RankerError
        Any documented configuration, input, graph, convergence or output error; under several
        processes on every rank (:class:`ranker.parallel.comm.DistributedError` when a rank died).

    Notes
    -----
    Before any work the output directory is checked against the inputs (no output may replace
    or be read as an input), created, proved writable and locked for the job
    (:class:`ranker.io.output_dir.OutputDir`). Started by ``torchrun`` with several processes
    (``WORLD_SIZE`` > 1), every process runs the same stages over its block of the graph and
    rank 0 writes the outputs.
    """
    from ..parallel.comm import launched

    comm: Communicator
    if launched():
        from ..parallel.comm import Comm

        comm = Comm.from_env(cfg.rank.device)
    else:
        from ..parallel.comm import SoloComm

        comm = SoloComm(resolve_device(cfg.rank.device))
    try:
        return run_stages(cfg, comm, show_progress=show_progress, stages=STAGES)
    finally:
        remove_converted()  # parquet copies of CSV/JSON inputs (ranker.io.formats)
        comm.close()


def validate_job(cfg: JobConfig) -> dict[str, Any]:
    """Every check of a job up to its first solve, on this process, writing nothing.

    The output directory against the inputs, the input files and their columns, the
    citations (read and built into the graph: ids, weights, unknown papers), and every id the
    job names (seeds, targets, authorships, excluded ids). A job with ``[input.synthetic]`` is
    checked as far as its generated files exist.

    Returns
    -------
    dict
        What was found: papers, citations, and the seed sets, targets and authorships read.

    Raises
    ------
    RankerError
        The first problem, as :func:`run_job` would raise it.
    """
    from ..parallel.comm import SoloComm

    try:
        check_inputs_apart(cfg.output.dir, *job_inputs(cfg))
        comm = SoloComm(resolve_device(cfg.rank.device))
        engine = LocalEngine(cfg, comm.device)
        with StagedOutputs() as staging:
            ctx = JobContext(cfg=cfg, comm=comm, engine=engine, out_dir=Path(cfg.output.dir), staging=staging,
                             show_progress=False)
            if cfg.input.synthetic is not None and not Path(cfg.input.citations).exists():
                return {"synthetic papers (generated when the job runs)": cfg.input.synthetic.papers}
            for stage in STAGES:
                if stage.validates and stage.enabled(cfg):
                    run_stage(ctx, stage)
        assert engine.graph is not None
        facts = {"papers": engine.n, "citations": engine.graph.nnz}
        if ctx.seeds is not None:
            facts["seed sets"] = len(ctx.seeds)
        if ctx.targets is not None:
            facts["credit targets"] = len(ctx.targets)
        if ctx.authorships is not None:
            facts["authorships"] = int(ctx.authorships.paper.size)
        if ctx.snapshot_years is not None:
            facts["trajectory years"] = len(ctx.snapshot_years)
        return facts
    finally:
        remove_converted()


def check_supported(cfg: JobConfig, comm: Any, stages: tuple[Stage, ...]) -> None:
    """Refuse, in one line and before any work, a stage this job needs that cannot run on several processes."""
    if comm.world_size == 1:
        return
    for stage in stages:
        why = stage.one_process(cfg) if stage.enabled(cfg) else ""
        if why:
            raise ConfigError(f"{why} needs one process (run without torchrun); jobs under torchrun rank papers "
                              "with [rank] algorithm = 'pagerank' and authors with 'paper_scores'")


def run_stages(cfg: JobConfig, comm: Any, *, show_progress: bool = True, stages: tuple[Stage, ...] | None = None
               ) -> RunResult:
    """The job over ``comm`` (collective: every rank calls it); ``stages`` default to :data:`STAGES`.
    See :func:`run_job`."""
    t_start = time.perf_counter()
    stages = STAGES if stages is None else stages
    check_supported(cfg, comm, stages)
    engine = LocalEngine(cfg, comm.device) if comm.world_size == 1 else PartitionedEngine(cfg, comm)
    out_dir = Path(cfg.output.dir)
    with contextlib.ExitStack() as held:
        with comm.phase("output directory"):
            if comm.is_root:  # rank 0 alone writes: it checks the directory and holds its lock for the job
                check_inputs_apart(cfg.output.dir, *job_inputs(cfg))
                out_dir = held.enter_context(OutputDir(cfg.output.dir)).path
        staging = held.enter_context(StagedOutputs())
        ctx = JobContext(cfg=cfg, comm=comm, engine=engine, out_dir=out_dir, staging=staging,
                         show_progress=show_progress, t_start=t_start)
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        ctx.meta.update(started=started, config=cfg.to_dict(), versions=versions(), device=str(engine.device),
                        device_name=device_name(engine.device), threads=torch.get_num_threads())
        for stage in stages:
            if not stage.enabled(cfg):
                continue
            run_stage(ctx, stage)
        with comm.phase("commit outputs"):
            if comm.is_root:
                commit(ctx)
    if comm.is_root:
        log.info("wrote %s in %.2f s", ", ".join(ctx.outputs.values()), ctx.meta["seconds"]["total"])
    assert ctx.result is not None and ctx.ids is not None
    return RunResult(graph=engine.graph, ids=ctx.ids, global_result=ctx.result,
                     metadata=ctx.meta if comm.is_root else {}, outputs=dict(ctx.outputs) if comm.is_root else {},
                     tables=dict(ctx.tables) if comm.is_root else {})


def run_stage(ctx: JobContext, stage: Stage) -> None:
    """One stage, inside a phase: rank 0 alone or every rank runs it, and then every rank learns
    whether it failed anywhere (:meth:`ranker.parallel.comm.Comm.phase`), so that all stop together."""
    log.debug("stage %s", stage.name)
    with ctx.comm.phase(stage.name):
        if ctx.comm.is_root or not stage.root_only:
            stage.run(ctx)


def commit(ctx: JobContext) -> None:
    """Stage ``run.json`` and give every output its final name; outputs of an earlier run in the
    directory that this job does not write go, so ``run.json`` never sits beside another run's files.
    Then the personalized checkpoints, which fed committed outputs, are removed."""
    meta = ctx.meta
    meta["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    meta["seconds"] = dict(ctx.stages.seconds)
    meta["seconds"]["total"] = time.perf_counter() - ctx.t_start
    meta["peak_memory_bytes"] = dict(ctx.stages.peak_bytes)
    meta["peak_memory_bytes"]["process"] = peak_rss()
    meta["outputs"] = dict(ctx.outputs)
    write_json_atomic(meta, ctx.out_dir / "run.json", staging=ctx.staging)
    ctx.outputs["run"] = str(ctx.out_dir / "run.json")
    ctx.staging.commit(replaces=[ctx.out_dir / name for name in OUTPUT_NAMES])
    if ctx.checkpoint_job:  # every stage's checkpoints of this job, and stale ones of earlier jobs
        Checkpoints(ctx.out_dir, ctx.checkpoint_job).remove()


def job_inputs(cfg: JobConfig) -> tuple[list[str], list[str]]:
    """The job's input files and the directories it reads as a whole (for :func:`check_inputs_apart`)."""
    inp = cfg.input
    files = [f for f in (inp.papers, inp.authorships, inp.coauthorships,
                         cfg.personalize.seeds if cfg.personalize else "",
                         cfg.credit.targets if cfg.credit else "") if f]
    dirs = []
    if inp.synthetic is not None:
        dirs.append(inp.synthetic.dir)
    elif os.path.isdir(inp.citations):
        dirs.append(inp.citations)
    else:
        files += citation_files(inp.citations)
    return files, dirs


def versions() -> dict[str, str]:
    """Versions of this package and of the libraries whose numbers it reports (run metadata)."""
    return {"rank_citations": __version__, "torch": torch.__version__, "pyarrow": pa.__version__,
            "numpy": np.__version__, "python": platform.python_version()}
