"""What the stages of a job share: its configuration, communicator, engine, outputs and results so far."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import JobConfig
from ..io import (
    Authorships,
    IdMap,
    SeedSets,
    StagedOutputs,
    WrittenTable,
    write_parquet_atomic,
    write_parquet_batches_atomic,
)
from ..progress import StageTimes
from ..solvers.iteration import PageRankResult

if TYPE_CHECKING:  # the seams, for readers and type checkers (importing them here would be circular)
    from ..parallel.comm import Communicator
    from .engines import Engine


@dataclass(frozen=True)
class Target:
    """One ``[credit]`` target: a paper, or an author (whose papers are its seeds)."""

    kind: str  # "paper" | "author"
    index: int  # paper index in the graph, or author index in the authorships
    papers: np.ndarray  # seed papers: the paper itself, or the author's papers
    weights: np.ndarray  # their seed weights (the author's counting-rule shares)


@dataclass
class JobContext:
    """One running job, as every stage sees it.

    Attributes
    ----------
    cfg : JobConfig
    comm : Communicator
        This process's place in the job: :class:`ranker.parallel.comm.SoloComm` or ``Comm``.
    engine : Engine
        Where the graph lives and how it is solved: :class:`ranker.job.local_engine.LocalEngine` or
        ``PartitionedEngine``.
    out_dir : Path
        The checked, locked output directory (rank 0); the configured path elsewhere.
    staging : StagedOutputs
        Outputs written so far, under temp names until the job commits them.
    meta : dict
        The run metadata, written to ``run.json`` and into every parquet file.
    outputs : dict
        Output name -> final path, of the files written so far.
    files : list of str
        The citation files.
    ids : IdMap
        Paper ids in the solve's numbering. Under several processes, rank 0 holds the whole
        graph's ids once the global stage has gathered them; before that, and on the other
        ranks, this rank's block.
    scores : numpy.ndarray
        The global scores (float64, aligned with ``ids``), on rank 0 after the global stage.
    citations : numpy.ndarray
        Each paper's citations in the graph (``int64``, its in-degree), aligned with ``scores``.
    """

    cfg: JobConfig
    comm: Communicator
    engine: Engine
    out_dir: Path
    staging: StagedOutputs
    show_progress: bool = True
    stages: StageTimes = field(default_factory=StageTimes)
    t_start: float = field(default_factory=time.perf_counter)
    meta: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # solve -> (iteration, residual)
    files: list[str] = field(default_factory=list)
    ids: IdMap | None = None
    result: PageRankResult | None = None
    scores: np.ndarray | None = None
    citations: np.ndarray | None = None
    days: np.ndarray | None = None
    years: np.ndarray | None = None  # each paper's year (float64, NaN unknown): [trajectories]
    snapshot_years: np.ndarray | None = None  # int64: the last year of each trajectory column
    group_codes: tuple[Any, np.ndarray] | None = None  # (ids, codes) of [output] normalize_by, read once
    authorships: Authorships | None = None
    coauthorships: Any = None
    seeds: SeedSets | None = None
    targets: list[Target] | None = None
    excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    file_papers: int = 0  # papers-file rows that are nodes 0..file_papers-1 at ingest (one process), else 0
    ingest_perm: np.ndarray | None = None  # the ingest index of each paper after renumbering (None: unchanged)
    checkpoint_job: str = ""

    @property
    def show(self) -> bool:
        """Progress bars: on a terminal, rank 0 only."""
        return self.show_progress and self.comm.is_root

    def file_meta(self, **sections: Any) -> dict[str, Any]:
        """The metadata every output file carries: the run's so far, its stage times and ``sections``."""
        return {**self.meta, "seconds": dict(self.stages.seconds), **sections}

    def write_table(self, name: str, table: Any, **sections: Any) -> Path:
        """Stage ``<out_dir>/<name>.parquet`` with the run's metadata; it is committed with the others."""
        path = self.out_dir / f"{name}.parquet"
        write_parquet_atomic(table, path, self.file_meta(**sections), staging=self.staging)
        self.outputs[name] = str(path)
        self.tables[name] = table
        return path

    def write_batches(self, name: str, tables: Iterable[Any], size_hint: int = 0, **sections: Any) -> Path:
        """:meth:`write_table` for a table given in slices (written as they come, never whole in
        memory); :meth:`table` reads it back when asked for."""
        path = self.out_dir / f"{name}.parquet"
        write_parquet_batches_atomic(tables, path, self.file_meta(**sections), staging=self.staging,
                                     size_hint=size_hint)
        self.outputs[name] = str(path)
        self.tables[name] = WrittenTable(path, self.staging)
        return path

    def table(self, name: str) -> Any:
        """The output table ``name`` (a ``pyarrow.Table``), read back if it was written in slices."""
        t = self.tables[name]
        return t.read() if isinstance(t, WrittenTable) else t

    def renumber(self, perm: np.ndarray) -> None:
        """Everything held in paper indices follows the graph's renumbering (new ``r`` is old ``perm[r]``)."""
        inverse = np.empty_like(perm)
        inverse[perm] = np.arange(perm.size, dtype=perm.dtype)
        if self.ids is not None:
            self.ids = self.ids.permute(perm)
        if self.file_papers:
            self.ingest_perm = perm if self.ingest_perm is None else self.ingest_perm[perm]
        if self.days is not None:
            self.days = self.days[perm]
        if self.years is not None:
            self.years = self.years[perm]
        if self.excluded.size:
            self.excluded = inverse[self.excluded]
        if self.seeds is not None:
            self.seeds.paper_index = inverse[self.seeds.paper_index]
        if self.authorships is not None:
            self.authorships.paper = inverse[self.authorships.paper]
        if self.targets is not None:
            self.targets = [dataclasses.replace(t, index=int(inverse[t.index]) if t.kind == "paper" else t.index,
                                                papers=inverse[t.papers]) for t in self.targets]
