"""Before a run: how much memory a job will take, from the parquet footers alone (nothing is read).

The model (bytes; ``E`` citation rows, ``n`` papers, ``B`` score columns solved together,
``s`` bytes per score: 8 in float64, 4 in float32, ``v = 4 + s`` bytes per stored citation, and
``c = COLUMN_COPIES s`` bytes per paper and column):

    peak host = BASELINE + FIXED + HOST_PER_PAPER n
                + max(PLAN_PER_CITATION E, GRAPH_PER_CITATION E + v E + c n B)

- ``BASELINE``: the interpreter with torch, pyarrow, scipy and numba loaded (measured 0.45 GiB);
  ``FIXED``: allocator pools and the stages' small tables (0.1 GiB).
- The ingest and the solver's plan peak at ``PLAN_PER_CITATION`` (56) bytes per citation: the
  graph exists twice while the plan renumbers it. That copy is gone before the solve.
- The solve holds the graph (``GRAPH_PER_CITATION`` bytes of structure per citation, plus a
  stored value ``v`` on the power path) and ``COLUMN_COPIES`` dense copies of the score
  columns (scores, teleport, and a step's transients).
- A float64 power solve runs mostly in float32 (:func:`ranker.pagerank.power_iteration`): it
  also holds float32 transition values (``v`` + 4) and ``FLOAT32_COPIES`` float32 copies of
  the columns (``c`` + 4 ``FLOAT32_COPIES``: the float32 teleport, the correction's right-hand
  side, its iterate, its step's result and its stored scores).
- On a GPU the solve's part, ``v E + c n B``, is on the device.

``B`` is ``[personalize] batch_size``, else the number of seed sets up to 256 (the automatic
batch also stops at a quarter of free memory), else 1. BENCHMARKS.md compares the model with
measured peaks (``/usr/bin/time``'s maximum resident size).
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow.parquet as pq

from ..config import JobConfig
from ..io.listing import citation_files
from ..io.formats import detect_format

BASELINE = int(0.45 * 2**30)
FIXED = int(0.1 * 2**30)
PLAN_PER_CITATION = 56
GRAPH_PER_CITATION = 16
HOST_PER_PAPER = 120
COLUMN_COPIES = 3
FLOAT32_COPIES = 5


def estimate_job(cfg: JobConfig) -> dict[str, Any]:
    """Predicted sizes and peak memory of a job, from file metadata.

    Returns
    -------
    dict
        ``citations`` (rows; ``citations_exact`` when read from parquet footers), ``papers``
        (listed in the papers file, else an upper bound from the id statistics or ``2 E``),
        ``exact`` (whether both counts are exact),
        ``host_bytes``, ``device_bytes``, ``device`` and, for a GPU, ``device_free_bytes`` and
        ``fits``.
    """
    import torch

    from ..devices import resolve_device

    inp = cfg.input
    if inp.synthetic is not None:
        rows = int(inp.synthetic.papers * inp.synthetic.mean_references)
        papers, exact, rows_exact = inp.synthetic.papers, False, False
        papers_kind = "exactly"
    else:
        rows, exact, id_range = _citation_rows(citation_files(inp.citations), inp.citing_column, inp.cited_column)
        rows_exact = exact
        papers_kind = "at most"
        if inp.papers and detect_format(inp.papers) == "parquet":
            papers = pq.ParquetFile(inp.papers).metadata.num_rows
            # with unknown_papers = "keep", citations may name papers the file does not list: at least this many
            papers_kind = "exactly" if inp.unknown_papers != "keep" else "at least"
            exact = exact and inp.unknown_papers != "keep"
        else:
            papers = min(2 * rows, id_range) if id_range else 2 * rows
            exact = False
    score_bytes = 8 if cfg.rank.dtype == "float64" else 4
    value_bytes = 4 + score_bytes
    column_bytes = COLUMN_COPIES * score_bytes
    if score_bytes == 8:  # the float32 start and corrections of a float64 power solve
        value_bytes += 4
        column_bytes += 4 * FLOAT32_COPIES
    columns = 1
    if cfg.personalize is not None:
        columns = cfg.personalize.batch_size or min(256, _seed_sets(cfg.personalize.seeds))
    device = resolve_device(cfg.rank.device)
    solve_bytes = value_bytes * rows + column_bytes * papers * columns
    on_host = solve_bytes if device.type == "cpu" else 0
    host = (BASELINE + FIXED + HOST_PER_PAPER * papers
            + max(PLAN_PER_CITATION * rows, GRAPH_PER_CITATION * rows + on_host))
    out: dict[str, Any] = {"citations": rows, "citations_exact": rows_exact, "papers": papers, "exact": exact,
                           "papers_bound": papers_kind,
                           "score_columns": columns,
                           "host_bytes": host, "device": str(device), "device_bytes": solve_bytes}
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
