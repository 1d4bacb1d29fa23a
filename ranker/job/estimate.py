"""Before a run: how much memory a job will take, from the parquet footers and a sample of rows.

The model (bytes; ``E`` citation rows, ``n`` papers, ``B`` score columns solved together,
``s`` bytes per score: 8 in float64, 4 in float32), a peak per stage, the largest taken:

    ingest          = BASE + INGEST_PER_CITATION E + ids_read
    build, order    = BASE + PLAN_PER_CITATION E + held
    solve           = BASE + GRAPH_PER_CITATION E + held + solve_bytes (one column)
    write papers    = BASE + GRAPH_PER_CITATION E + held + WRITE_PER_PAPER n (+ FACTS_PER_PAPER n)
    batched columns = BASE + GRAPH_PER_CITATION E + held + solve_bytes, when personalized or
                      trajectory columns follow

with ``held = HOST_PER_PAPER n + ids_held``.

- ``BASE`` (0.55 GB): the interpreter with torch, pyarrow and numba loaded, and allocator pools.
- ``INGEST_PER_CITATION`` (10): the ``int32`` citation pairs and what reading them costs;
  ``PLAN_PER_CITATION`` (12): the pairs (or the sort key) and the CSR's columns at the build's peak (the plan
  renumbers in place); ``GRAPH_PER_CITATION`` (9): the graph the solve holds.
- ``HOST_PER_PAPER`` (24): row pointers, out-weights, scores.
- ids: integer ids nothing; compact string ids (a prefix and digits, ``[input] compact_ids``)
  ``ID_BATCH_BYTES`` and ``COMPACT_READ_PER_PAPER`` (25) while read (the hash table at its
  growth) and ``COMPACT_PER_PAPER`` (8: the numbers) after; ids read as text
  ``TEXT_PER_PAPER`` (830) throughout.
- ``WRITE_PER_PAPER`` (32): the sort of papers.parquet's rows; the table is written in slices
  and not held (:class:`ranker.job.tables.RankedRows`). ``FACTS_PER_PAPER`` (40): the papers
  file's year, date and title joined in.
- ``solve_bytes``: ``v E + c n B`` with ``v = 4 + s`` bytes per stored citation on the power path
  (and 4 more for the float32 copy of a float64 power solve) and ``c = COLUMN_COPIES s`` bytes
  per paper and column (``+ 4 FLOAT32_COPIES`` for a float64 power solve); the exact sweep
  (method ``auto``/``dag`` on the CPU) stores no values, and a trajectory column costs
  ``TRAJECTORY_COLUMN`` (24: teleport, scores and what the sweep reads).
- On a GPU ``solve_bytes`` is on the device.
- Personalized on the CPU (:func:`ranker.solvers.local.local_pagerank`), a stage of its own:
  ``personalized = BASE + GRAPH_PER_CITATION E + held + REFERENCES_PER_CITATION E + LOCAL_PER_PAPER n``
  (each paper's references, 4 bytes per citation and ``s`` more when weighted; the forward sweep's
  scratch, 41 bytes per paper), and ``B = 1`` elsewhere. Seed sets reaching over half the papers
  are solved ``B`` at a time over the whole graph: ``far_reaching_sets`` says what such a batch
  would take (``B`` is sized from free memory, and halves on out-of-memory), outside the peak.

The constants were fitted to the session-11 runs of ``scripts/bench_scale.py`` (24M and 239M
citations, integer and URL ids, per-stage peaks from the job's log); BENCHMARKS.md compares the
model with every measured peak since. The papers are the papers file's rows when it is given;
else, for parquet citations, an estimate from a sample of row groups (:func:`distinct_ids`),
at most the integer id range (parquet statistics) and two per citation; for text files, that
bound.

``B`` is ``[personalize] batch_size``, else the number of seed sets up to 256 (the automatic
batch also stops at a quarter of free memory), else 1; with ``[trajectories]`` at least its
``batch_size``, else the years it ranks up to 256 (every year of the papers file's year column,
from its parquet statistics, for ``years = "all"``).
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow.parquet as pq

from ..config import JobConfig
from ..io.formats import detect_format
from ..io.listing import citation_files

BASE = 550_000_000
INGEST_PER_CITATION = 10
PLAN_PER_CITATION = 12
GRAPH_PER_CITATION = 9
HOST_PER_PAPER = 24
WRITE_PER_PAPER = 32
FACTS_PER_PAPER = 40
ID_BATCH_BYTES = 400_000_000
COMPACT_READ_PER_PAPER = 25
COMPACT_PER_PAPER = 8
TEXT_PER_PAPER = 830
COLUMN_COPIES = 3
FLOAT32_COPIES = 5
TRAJECTORY_COLUMN = 24
REFERENCES_PER_CITATION = 4
LOCAL_PER_PAPER = 41
#: Rows of citations read to tell the id kind (as the job does: the first rows).
SAMPLE_ROWS = 65_536


def estimate_job(cfg: JobConfig) -> dict[str, Any]:
    """Predicted sizes and peak memory of a job, from file metadata and a sample of rows.

    Returns
    -------
    dict
        ``citations`` (rows; ``citations_exact`` when read from parquet footers), ``papers``
        (listed in the papers file, else a bound or an estimate: ``papers_bound``),
        ``exact`` (whether both counts are exact), ``id_kind`` (integer, compact or text),
        ``stages`` (the predicted peak of each stage), ``peak_stage``, ``host_bytes``,
        ``device_bytes``, ``device`` and, for a GPU, ``device_free_bytes`` and ``fits``.
    """
    import torch

    from ..devices import resolve_device
    from ..kernels import compiled_pays
    from .engines import DTYPES
    from .solve_options import auto_batch

    inp = cfg.input
    rows, rows_exact, papers, exact, papers_kind, id_kind = _sizes(cfg)
    score_bytes = 8 if cfg.rank.dtype == "float64" else 4
    device = resolve_device(cfg.rank.device)
    sweep = device.type == "cpu" and cfg.rank.method != "power"
    value_bytes = 0 if sweep else 4 + score_bytes + (4 if score_bytes == 8 else 0)
    column_bytes = COLUMN_COPIES * score_bytes + (4 * FLOAT32_COPIES if score_bytes == 8 and not sweep else 0)
    columns = batch = 1
    if cfg.personalize is not None:
        # the batch the job will take: sized from free memory as the engine sizes it (auto_batch)
        batch = cfg.personalize.batch_size or auto_batch(papers, DTYPES[cfg.rank.dtype], device,
                                                         _seed_sets(cfg.personalize.seeds))
    # on the CPU a seed set is solved over the papers it reaches (ranker.solvers.local); only sets
    # reaching over half the papers are batched as whole-graph columns, and all of a small graph's
    # (LocalEngine.solves_locally)
    local = (cfg.personalize is not None and cfg.rank.kernel == "torch"
             and compiled_pays(rows, device, new_process=True))  # estimate may have loaded numba itself
    columns = batch if cfg.personalize is not None and not local else 1
    solve_bytes = value_bytes * rows + column_bytes * papers * columns
    if cfg.trajectories is not None:
        years = cfg.trajectories.batch_size or auto_batch(papers, torch.float64, device, _trajectory_years(cfg))
        solve_bytes = max(solve_bytes, value_bytes * rows + (TRAJECTORY_COLUMN if sweep else column_bytes)
                          * papers * years)
        columns = max(columns, years)
    ids_read = {"integer": 0, "compact": ID_BATCH_BYTES + COMPACT_READ_PER_PAPER * papers,
                "text": ID_BATCH_BYTES + TEXT_PER_PAPER * papers}[id_kind]
    held = HOST_PER_PAPER * papers + {"integer": 0, "compact": COMPACT_PER_PAPER * papers,
                                      "text": TEXT_PER_PAPER * papers}[id_kind]
    on_host = solve_bytes if device.type == "cpu" else 0
    graph = BASE + GRAPH_PER_CITATION * rows + held
    stages = {"ingest": BASE + INGEST_PER_CITATION * rows + ids_read,
              "build, order": BASE + PLAN_PER_CITATION * rows + held,
              "solve": graph + (on_host if columns == 1 else 0),
              "write papers": graph + (WRITE_PER_PAPER + (FACTS_PER_PAPER if inp.papers else 0)) * papers}
    if local:
        references = REFERENCES_PER_CITATION + (score_bytes if inp.weight_column else 0)
        stages["personalized"] = graph + references * rows + LOCAL_PER_PAPER * papers
    if columns > 1:  # personalized batches or trajectories, after papers.parquet was written
        stages["batched columns"] = graph + on_host
    peak_stage = max(stages, key=lambda name: stages[name])
    host = stages[peak_stage]
    out: dict[str, Any] = {"citations": rows, "citations_exact": rows_exact, "papers": papers, "exact": exact,
                           "papers_bound": papers_kind, "id_kind": id_kind, "score_columns": columns,
                           "stages": stages, "peak_stage": peak_stage,
                           "host_bytes": host, "device": str(device), "device_bytes": solve_bytes}
    if local:  # not in the peak: what a batch of far-reaching sets would add (sized from free memory)
        out["far_reaching_sets"] = {"batch": batch, "bytes": graph + column_bytes * papers * batch}
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        out.update(device_free_bytes=free, device_total_bytes=total, fits=solve_bytes <= free)
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            out.update(device_free_bytes=free, fits=host <= free)
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-Linux
            pass
    return out


def _sizes(cfg: JobConfig) -> tuple[int, bool, int, bool, str, str]:
    """``(citations, whether exact, papers, whether exact, "exactly" | "at least" | "at most",
    id kind)``, from the footers, a sample of the first rows, and the papers file when there is one."""
    inp = cfg.input
    if inp.synthetic is not None:
        return (int(inp.synthetic.papers * inp.synthetic.mean_references), False, inp.synthetic.papers, False,
                "exactly", "compact")
    files = citation_files(inp.citations)
    rows, exact, id_range = _citation_rows(files, inp.citing_column, inp.cited_column)
    rows_exact = exact
    sample = _sample(files, inp.citing_column, inp.cited_column)
    id_kind = _id_kind(sample, inp.compact_ids) if sample is not None else "text"
    if inp.papers and detect_format(inp.papers) == "parquet":
        papers = pq.ParquetFile(inp.papers).metadata.num_rows
        # with unknown_papers = "keep", citations may name papers the file does not list: at least this many
        keep = inp.unknown_papers == "keep"
        return rows, rows_exact, papers, exact and not keep, "at least" if keep else "exactly", id_kind
    bound = min(2 * rows, id_range) if id_range else 2 * rows  # every row could name two new papers
    counted = distinct_ids(files, inp.citing_column, inp.cited_column, rows) if rows_exact else None
    if counted is None:
        return rows, rows_exact, bound, False, "at most", id_kind
    return rows, rows_exact, min(bound, counted), False, "about", id_kind


#: Row groups read by :func:`distinct_ids` (spread evenly over the files), and rows read from each.
DISTINCT_GROUPS = 8
DISTINCT_ROWS = 1 << 20


def distinct_ids(files: list[str], citing: str, cited: str, rows: int) -> int | None:
    """About how many distinct paper ids the citation files name, from a sample of their row groups.

    :data:`DISTINCT_GROUPS` row groups spread evenly over the files are read (at most
    :data:`DISTINCT_ROWS` rows of each), a fraction ``q`` of the ``rows``. Each id's occurrences
    are counted, a run of equal ids in a column counting once (a work's exploded reference list
    repeats its citing id row after row: one occurrence, as likely to be sampled as any other).
    With ``f_j`` ids seen ``j`` times, the count is the guaranteed-error estimator (GEE) of
    Charikar et al.,

        D = sqrt(1 / q) f_1 + sum_{j >= 2} f_j,

    exact when the sample is the whole input (``q = 1``), and within a factor ``sqrt(1 / q)`` in
    the worst case. Measured on graphs of :mod:`ranker.synthetic` against their true count: with
    the rows in generation order (citing ids grouped) 0.87-0.97x (a paper cited by nobody occurs
    once, and is mostly unseen); with the rows shuffled it errs high, 1.09-1.11x at ``q = 0.2``,
    1.28x at ``q = 0.033`` (the 239M-citation URL graph), 1.63x at ``q = 0.05`` on a 200k-paper
    graph. A papers file gives the exact count. None when the files are not all parquet.

    References
    ----------
    M. Charikar, S. Chaudhuri, R. Motwani, V. Narasayya. Towards estimation error guarantees
    for distinct values. PODS 2000.
    """
    import numpy as np
    import pyarrow as pa

    groups = []
    for path in files:
        if detect_format(path) != "parquet":
            return None
        md = pq.ParquetFile(path).metadata
        groups += [(path, g) for g in range(md.num_row_groups) if md.row_group(g).num_rows]
    if not groups or rows <= 0:
        return None
    picked = np.unique(np.linspace(0, len(groups) - 1, min(DISTINCT_GROUPS, len(groups))).round().astype(int))
    runs, read, pattern = [], 0, None
    try:
        for i in picked:
            path, g = groups[i]
            f = pq.ParquetFile(path)
            batch = next(f.iter_batches(batch_size=DISTINCT_ROWS, row_groups=[g], columns=[citing, cited]))
            read += batch.num_rows
            columns = [_plain(batch.column(0)), _plain(batch.column(1))]
            if pattern is None and not pa.types.is_integer(columns[0].type):
                from ..io.id_patterns import detect_pattern

                pattern = detect_pattern(pa.concat_arrays([c.slice(0, 1 << 15) for c in columns]))
            runs += [_run_heads(c, pattern) for c in columns]
        counts = _occurrences(runs)
    except (pa.ArrowException, OSError, KeyError, StopIteration):  # the job names what is wrong
        return None
    if counts is None:
        return None
    q = min(1.0, read / rows)
    once = int(np.count_nonzero(counts == 1))
    return int(round(np.sqrt(1 / q) * once + (counts.size - once)))


def _plain(a: Any) -> Any:
    """An id column as plain values (dictionaries decoded, lists flattened)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..io.sources import decode_dictionaries

    a = decode_dictionaries(pa.record_batch([a], names=["a"])).column(0)
    if pa.types.is_list(a.type) or pa.types.is_large_list(a.type):  # OpenAlex's referenced_works
        a = pc.list_flatten(a)
    return a


def _run_heads(a: Any, pattern: Any) -> Any:
    """The ids of ``a`` with each run of equal consecutive ids kept once: ``int64`` numbers for
    integer ids and for text of one prefix and digits (``pattern``), else the text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(a.type):
        v = a.cast(pa.int64()).to_numpy(zero_copy_only=False)
    elif pattern is not None and (numbers := pattern.encode(a)) is not None:
        v = numbers.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    else:
        a = a.cast(pa.large_string())
        if len(a) < 2:
            return a
        starts = pc.not_equal(a.slice(1), a.slice(0, len(a) - 1))
        return pa.concat_arrays([a.slice(0, 1), a.slice(1).filter(starts)])
    keep = np.ones(v.size, dtype=bool)
    np.not_equal(v[1:], v[:-1], out=keep[1:])
    return v[keep]


def _occurrences(runs: list[Any]) -> Any:
    """How many times each distinct id occurs in ``runs`` (None when numbers and text are mixed)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if all(isinstance(r, np.ndarray) for r in runs):
        from ..kernels.numbering import HashNumbering

        table = HashNumbering()
        codes = [table.number(r) for r in runs]
        return np.bincount(np.concatenate(codes)) if codes else np.zeros(0, np.int64)
    if any(isinstance(r, np.ndarray) for r in runs):
        return None
    return pc.value_counts(pa.chunked_array(runs)).field("counts").to_numpy()


def _sample(files: list[str], citing: str, cited: str) -> Any | None:
    """The id columns of the first row group of the first parquet file (at most :data:`SAMPLE_ROWS`
    rows), or None when the files are not parquet or hold no rows."""
    for path in files:
        if detect_format(path) != "parquet":
            return None
        f = pq.ParquetFile(path)
        if f.metadata.num_row_groups and f.metadata.row_group(0).num_rows:
            return f.read_row_group(0, columns=[citing, cited]).slice(0, SAMPLE_ROWS)
    return None


def _id_kind(sample: Any, compact: bool) -> str:
    """``integer``, ``compact`` (string ids of one prefix and digits, read as integers) or ``text``."""
    import pyarrow as pa

    from ..io.id_patterns import detect_pattern

    if pa.types.is_integer(sample.schema.field(0).type):
        return "integer"
    head = pa.concat_arrays([sample.column(0).combine_chunks(), sample.column(1).combine_chunks()])
    return "compact" if compact and detect_pattern(head) is not None else "text"


def _trajectory_years(cfg: JobConfig) -> int:
    """Years ``[trajectories]`` ranks: the list's length, or the span of the papers file's year column
    (its parquet statistics; 1 when it has none)."""
    assert cfg.trajectories is not None
    if cfg.trajectories.years:
        return len(cfg.trajectories.years)
    inp = cfg.input
    if not inp.papers or detect_format(inp.papers) != "parquet":
        return 1
    meta = pq.ParquetFile(inp.papers).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if inp.year_column not in names:
        return 1
    c = names.index(inp.year_column)
    lo, hi = None, None
    for g in range(meta.num_row_groups):
        st = meta.row_group(g).column(c).statistics
        if st is None or not st.has_min_max:
            return 1
        lo = st.min if lo is None else min(lo, st.min)
        hi = st.max if hi is None else max(hi, st.max)
    return int(hi - lo + 1) if lo is not None else 1


def _citation_rows(files: list[str], citing: str, cited: str) -> tuple[int, bool, int | None]:
    """Rows of the citation files (exact for parquet; from a sample for text), and the integer id
    range of the parquet statistics when every row group has them."""
    rows, exact, lo, hi = 0, True, None, None
    for path in files:
        if detect_format(path) != "parquet":
            rows += text_rows(path, cited)
            exact = False
            lo = hi = None
            continue
        md = pq.ParquetFile(path).metadata
        rows += md.num_rows
        names = md.schema.to_arrow_schema().names
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for col in (citing, cited):
                if col not in names:
                    continue
                st = rg.column(names.index(col)).statistics
                if st is None or not st.has_min_max or not isinstance(st.min, int):
                    lo = hi = None
                    break
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
    return rows, exact, (hi - lo + 1) if lo is not None and hi is not None else None


#: Compressed bytes of a text file read to measure its compression ratio and bytes per row.
SAMPLE_BYTES = 4 << 20


def text_rows(path: str, cited: str = "cited") -> int:
    """Citation rows of a CSV/TSV/JSON Lines file (gzipped or not), from a sample of its start.

    The first :data:`SAMPLE_BYTES` of the file are decompressed: the ratio of decompressed to
    compressed bytes gives the whole file's text size (a gzip bomb of 6 MB that inflates to
    4 GB is counted as 4 GB, not as 6 MB of rows), and the sample's lines give the bytes per
    row. In JSON Lines whose cited column is a list, each line counts as many rows as its list
    has ids (on average over the sample).
    """
    import zlib

    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    text, consumed = head, len(head)
    if head[:2] == b"\x1f\x8b":
        z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        text = z.decompress(head, 64 * SAMPLE_BYTES)
        consumed = len(head) - len(z.unconsumed_tail) - len(z.unused_data)
    if not text:
        return 0
    total_text = len(text) * size / max(1, consumed)
    lines = text.split(b"\n")
    if len(lines) > 1 and consumed < size:
        lines = lines[:-1]  # the last line of the sample may be cut
    lines = [line for line in lines if line.strip()]
    if not lines:
        return 1
    per_line = sum(len(line) + 1 for line in lines) / len(lines)
    pairs = 1.0
    if detect_format(path) == "jsonl":
        pairs = _list_length(lines, cited)
    else:
        total_text -= per_line  # the header
    return max(1, int(total_text / per_line * pairs))


def _list_length(lines: list[bytes], cited: str) -> float:
    """Mean length of the ``cited`` lists in JSON lines (1 when it is not a list)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pajson

    sample = b"\n".join(lines[:2000]) + b"\n"
    try:
        table = pajson.read_json(pa.BufferReader(sample),
                                 read_options=pajson.ReadOptions(block_size=max(1 << 20, len(sample) + 1)))
    except (pa.ArrowException, OSError):
        return 1.0
    if cited not in table.column_names:
        return 1.0
    col = table.column(cited)
    if not (pa.types.is_list(col.type) or pa.types.is_large_list(col.type)):
        return 1.0
    return float(pc.sum(pc.list_value_length(col)).as_py() or 0) / max(1, table.num_rows)


def _seed_sets(path: str) -> int:
    """Seed sets in a seeds file: its rows (an upper bound) from the footer, 1 for text files."""
    if detect_format(path) != "parquet":
        return 1
    return max(1, pq.ParquetFile(path).metadata.num_rows)
