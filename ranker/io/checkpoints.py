"""Checkpoints of finished batches (personalized seed sets, trajectory years): bound to their job,
verified before reuse.

A long personalized run writes each finished batch to
``<output dir>/.checkpoint/personalized-<fingerprint>/batch-NNNNNN.parquet`` (a trajectories run
to ``trajectories-<fingerprint>/``) and, after it,
``batch-NNNNNN.json``: the job's fingerprint, the batch's seed sets, its iterations and
residuals, and the SHA-256 of the parquet file's bytes. A rerun of the same job (same inputs
and parameters) takes a batch from its checkpoint only when everything verifies: the
fingerprint, the hash, the exact schema (no extension types, no extra fields), the seed sets
in order, ranks ``1..k``, finite scores, shares in ``[0, 1]`` and paper ids of the graph.
Anything else is solved again, with a warning. The checkpoints are removed once the outputs
they fed are committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import __version__
from ..config import JobConfig
from ..errors import OutputError
from .output_dir import CHECKPOINT_DIR, CHECKPOINT_SUBDIR
from .outputs import file_sha256, folders_named, write_json_atomic, write_parquet_atomic

log = logging.getLogger("ranker")


def fingerprint(cfg: JobConfig, files: list[str], layout: str = "") -> str:
    """Identity of a job's inputs and parameters: 16 hex digits of a SHA-256.

    Over the resolved configuration (every section, ``[output]`` too: ``exclude_ids`` and
    ``ties`` shape the rows; only ``[output] dir`` and ``report`` are left out), the content
    of each input file (:func:`content_digest`: an edit that keeps size and modification time,
    as ``cp -p`` or ``rsync -t`` make, changes it), the package version and ``layout`` (how
    the job is laid out: ``distributed:W``). ``files`` should list every file the job reads:
    citations, papers, seeds, authorships, coauthorships, targets.
    """
    h = hashlib.sha256(layout.encode())
    d = cfg.to_dict()
    d.pop("source", None)
    out = dict(d.get("output") or {})
    out.pop("dir", None)
    out.pop("report", None)
    d["output"] = out
    h.update(json.dumps(d, sort_keys=True, default=str).encode())
    for f in dict.fromkeys(files):
        h.update(f"{os.path.realpath(f)}:{content_digest(f)}".encode())
    h.update(__version__.encode())
    return h.hexdigest()[:16]


def job_fingerprint(cfg: JobConfig, citation_files: list[str], world_size: int = 1) -> str:
    """:func:`fingerprint` of a job: its citation files and every other file it reads."""
    inp = cfg.input
    others = [inp.papers, inp.authorships, inp.coauthorships,
              cfg.personalize.seeds if cfg.personalize is not None else "",
              cfg.credit.targets if cfg.credit is not None else ""]
    return fingerprint(cfg, list(citation_files) + [f for f in others if f],
                       "" if world_size == 1 else f"distributed:{world_size}")


_digests: dict[tuple, str] = {}


def content_digest(path: str) -> str:
    """SHA-256 of a file's bytes, computed once per process for the same file state.

    The cache is keyed by inode, size, modification and change time (``st_ctime`` cannot be
    set back by ``touch`` or ``cp -p``), so an edited file is read again. SHA-256 runs at about
    1.7 GB/s here (SHA-NI), a small part of ingesting the same bytes.
    """
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _digests:
        t0 = time.perf_counter()
        _digests[key] = file_sha256(path)
        took = time.perf_counter() - t0
        if took > 1.0:
            log.info("%s: content hashed for the checkpoints' fingerprint (%.1f GB in %.1f s)", path,
                     st.st_size / 1e9, took)
    return _digests[key]


def checkpoint_schema(id_kind: str, stage: str = "personalized", percentile: bool = False) -> pa.Schema:
    """The exact schema of a checkpoint for ``"string"`` or ``"integer"`` ids.

    ``personalized``: ``seed_set, paper_id, score, rank, share`` (``personalized.parquet``'s first
    columns); ``trajectories``: ``year, paper_id, score, rank`` and, with ``percentile``, a
    nullable ``percentile``. The first column names each row's column of the batch.
    """
    id_type = pa.int64() if id_kind == "integer" else pa.string()
    if stage == "trajectories":
        return pa.schema([("year", pa.int64()), ("paper_id", id_type), ("score", pa.float64()), ("rank", pa.int64())]
                         + ([("percentile", pa.float64())] if percentile else []))
    return pa.schema([("seed_set", pa.string()), ("paper_id", id_type), ("score", pa.float64()),
                      ("rank", pa.int64()), ("share", pa.float64())])


class Checkpoints:
    """The checkpoint directory of one batched stage of a job.

    Parameters
    ----------
    out_dir : Path
        The job's output directory.
    job : str
        The job's :func:`fingerprint`.
    stage : {"personalized", "trajectories"}
        Whose batches (each stage has its own folder).
    """

    def __init__(self, out_dir: Path, job: str, stage: str = "personalized") -> None:
        self.root = out_dir / CHECKPOINT_DIR
        self.dir = self.root / f"{stage}-{job}"
        self.job = job

    def create(self) -> None:
        """Make the directory, refusing a planted link or an unwritable place in one line."""
        for d in (self.root, self.dir):
            if d.is_symlink():
                raise OutputError(f"{d} is a symbolic link; refusing to write checkpoints through it (remove it)")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=self.dir)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OutputError(f"{self.dir}: cannot create or write the checkpoint directory ({exc.strerror or exc}); "
                              "make it writable or remove it") from None

    def parquet(self, batch: int) -> Path:
        return self.dir / f"batch-{batch:06d}.parquet"

    def sidecar(self, batch: int) -> Path:
        return self.dir / f"batch-{batch:06d}.json"

    def bytes_held(self) -> int:
        """Bytes of the checkpoints already in the directory."""
        if not self.dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())

    def write(self, batch: int, table: pa.Table, names: list[str], iterations: list[int],
              residuals: list[float]) -> None:
        """Write a finished batch: the parquet first, then the sidecar that vouches for its bytes."""
        path = self.parquet(batch)
        try:
            write_parquet_atomic(table, path)
            write_json_atomic({"job": self.job, "batch": batch, "seed_sets": names, "iterations": iterations,
                               "residuals": residuals, "rows": table.num_rows, "sha256": file_sha256(path)},
                              self.sidecar(batch))
        except OutputError:
            raise
        except OSError as exc:
            raise OutputError(f"{path}: cannot write the checkpoint ({exc.strerror or exc}); make {self.dir} "
                              "writable, or remove it") from None

    def read(self, batch: int, names: list[str], k: int | list[int], ids: Any,
             schema: pa.Schema) -> dict[str, Any] | None:
        """The verified checkpoint of ``batch`` (``table``, ``iterations``, ``residuals``), or None.

        ``k``: the rows of each of ``names`` (one count for all, or one each), ranked ``1..k``.

        None, silently, when the batch has no checkpoint; None with a warning when one exists
        but does not verify (it is solved again and replaced). ``ids`` maps paper ids to graph
        indices (``lookup``), to prove every listed paper is in the graph (None: not checked).
        """
        path, side = self.parquet(batch), self.sidecar(batch)
        try:
            if not path.is_file() and not side.is_file():
                return None
        except OSError as exc:
            raise OutputError(f"{self.dir}: cannot read the checkpoint directory ({exc.strerror or exc}); make it "
                              "readable, or remove it") from None
        why = self._verify(path, side, batch, names, k, ids, schema)
        if isinstance(why, str):
            log.warning("%s: checkpoint does not verify (%s); solving that batch again", path, why)
            return None
        return why

    def _verify(self, path: Path, side: Path, batch: int, names: list[str], k: int | list[int], ids: Any,
                schema: pa.Schema) -> dict[str, Any] | str:
        try:
            info = json.loads(side.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return "no readable sidecar"
        if not isinstance(info, dict) or info.get("job") != self.job or info.get("batch") != batch:
            return "written by another job"
        if info.get("seed_sets") != names:
            return "other seed sets"
        try:
            if file_sha256(path) != info.get("sha256"):
                return "its bytes changed since it was written"
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            return f"unreadable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        got = table.schema.remove_metadata()
        if not got.equals(schema) or any(f.metadata for f in got):
            return f"unexpected schema {got.to_string(show_schema_metadata=False)!r}"
        n = len(names)
        counts = np.full(n, k, np.int64) if isinstance(k, int) else np.asarray(k, np.int64)
        rows = int(counts.sum())
        if table.num_rows != rows or info.get("rows") != rows:
            return f"{table.num_rows} rows, expected {rows}"
        iters, resid = info.get("iterations"), info.get("residuals")
        if not (isinstance(iters, list) and isinstance(resid, list) and len(iters) == len(resid) == n):
            return "no iterations and residuals for each column"
        col = {name: table.column(name).combine_chunks() for name in schema.names}
        group = schema.names[0]
        labels = names if pa.types.is_string(schema.field(group).type) else [int(x) for x in names]
        expected = pa.array(np.repeat(np.array(labels, dtype=object), counts), schema.field(group).type)
        if not col[group].equals(expected):
            return f"rows of other {group} values"
        ranks = np.concatenate([np.arange(1, c + 1) for c in counts]) if n else np.zeros(0, np.int64)
        if not np.array_equal(col["rank"].to_numpy(zero_copy_only=False), ranks):
            return "ranks are not 1..k"
        score = col["score"].to_numpy(zero_copy_only=False)
        if col["score"].null_count or col["paper_id"].null_count:
            return "null values"
        if not (np.isfinite(score).all() and (score >= 0).all() and (score <= 1 + 1e-9).all()):
            return "scores out of range"
        for name in schema.names[4:]:  # shares and percentiles lie in [0, 1]; a percentile may be null
            if col[name].null_count and name != "percentile":
                return "null values"
            v = col[name].drop_null().to_numpy(zero_copy_only=False)
            if not (np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()):
                return f"{name} out of range"
        if ids is None:  # a distributed job: ids are looked up collectively, rank 0 alone reads checkpoints
            return {"table": table.replace_schema_metadata(None), "iterations": iters, "residuals": resid}
        idx = ids.lookup(col["paper_id"].cast(pa.large_string() if ids.kind == "string" else pa.int64()))
        if idx.null_count:
            return f"paper {col['paper_id'][pc.index(idx.is_null(), True).as_py()].as_py()!r} is not in the graph"
        return {"table": table.replace_schema_metadata(None), "iterations": iters, "residuals": resid}

    def remove(self) -> None:
        """Delete this job's checkpoints, of every stage (the outputs they fed are in place), every other
        job's left in the same output directory (they were for outputs this commit replaced), and the
        root if empty."""
        shutil.rmtree(self.dir, ignore_errors=True)
        stale = 0
        if not self.root.is_symlink():
            for sub in folders_named(self.root, CHECKPOINT_SUBDIR):
                shutil.rmtree(sub.path, ignore_errors=True)
                stale += not sub.name.endswith(f"-{self.job}")
        if stale:
            log.info("removed %d checkpoint folder(s) of earlier, unfinished jobs from %s", stale, self.root)
        try:
            self.root.rmdir()
        except OSError:
            pass
