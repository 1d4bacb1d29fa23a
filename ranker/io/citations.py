"""Streaming ingest of the citations (and the papers file) into dense index pairs.

Everything downstream sees dense indices ``0..n-1``; :class:`~ranker.io.ids.IdMap` turns them
back into the ids of the input, with their parquet type kept (string ids stay strings, integer
ids stay integers). How ids become indices is :mod:`ranker.io.id_numbering`.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import GraphError, InputError, where
from ..kernels import compiled_pays
from .formats import detect_format
from .id_numbering import Advance, number_citations
from .ids import IdMap, first_true, id_kind, normalize_ids
from .sources import ParquetSource, check_kind, check_no_nulls, iter_batches, open_parquet, shard

log = logging.getLogger("ranker")


# --------------------------------------------------------------------------- citations


@dataclass
class EdgeList:
    """Citations as dense indices, before graph construction.

    Attributes
    ----------
    citing, cited : numpy.ndarray
        ``int32`` when the node count fits, else ``int64``; shape ``[E]``; columns of ``pairs``.
    weight : numpy.ndarray or None
        ``float64 [E]``, None when every citation weighs 1.
    ids : IdMap
    stats : dict
        Counts for the log and run metadata.
    """

    citing: np.ndarray
    cited: np.ndarray
    weight: np.ndarray | None
    ids: IdMap
    stats: dict[str, Any] = field(default_factory=dict)
    pairs: np.ndarray | None = None  # [E, 2] buffer that citing/cited view; see ranker.graph_build.graph_from_edges
    read_rows: int = 0  # rows read from the sources (pairs plus the rows of records citing nothing)
    source_rows: np.ndarray | None = None  # each pair's row among those read, when some rows were dropped

    def release(self, *, weight: bool = False) -> None:
        """Let go of the rows (and the weights), once the caller holds what it needs of them: the
        buffer is freed as soon as no other reference holds it."""
        empty = np.zeros(0, np.int64)
        self.pairs, self.citing, self.cited = None, empty, empty
        if weight:
            self.weight = None


def read_papers(path: str, id_column: str, batch_rows: int,
                shard_of: tuple[int, int] | None = None) -> tuple[pa.Array, str, int]:
    """Read the paper id column of ``[input] papers``, rejecting nulls.

    Returns the ids, their kind and the file row of the first id: 0, or with ``shard_of =
    (rank, world_size)`` the first row of that rank's contiguous share (:func:`shard`).

    Duplicate ids are detected later, for free, when the ids are merged with the citations'
    (:func:`read_citations`); see :func:`ranker.io.id_numbering.duplicate_paper_error`.
    """
    src = open_parquet(path, {id_column: "id"}, role="papers")
    kind = id_kind(src.file.schema_arrow.field(id_column).type)
    assert kind is not None
    first_row = 0
    if shard_of is not None:
        first_row = shard_of[0] * src.num_rows // shard_of[1]
        (src,) = shard([src], *shard_of)
    chunks = []
    for first, batch in iter_batches(src, [id_column], batch_rows):
        col = batch.column(0)
        check_no_nulls(col, path, id_column, first)
        chunks.append(normalize_ids(col, kind, (path, id_column, first)))
    ids = pa.concat_arrays(chunks) if chunks else pa.array([], pa.large_string() if kind == "string" else pa.int64())
    return ids, kind, first_row


def read_citations(
    files: list[str],
    *,
    citing_column: str = "citing",
    cited_column: str = "cited",
    weight_column: str = "",
    papers: str = "",
    paper_id_column: str = "paper_id",
    unknown_papers: str = "keep",
    batch_rows: int = 1_000_000,
    advance: Advance | None = None,
    shard_of: tuple[int, int] | None = None,
    fmt: str = "auto",
    weight_offset: float = 0.0,
    compact_ids: bool = True,
) -> EdgeList:
    """Stream citation parquet files into dense index arrays.

    Parameters
    ----------
    files : list of str
        Citation files, read in this order (sorted by :func:`ranker.io.listing.citation_files`):
        parquet, or CSV/TSV/JSON Lines, gzipped or not (:mod:`ranker.io.formats`). The cited
        column may hold lists of ids (OpenAlex's ``referenced_works``): one row per pair.
    citing_column, cited_column, weight_column : str
        Column names; an empty ``weight_column`` means every citation weighs 1.
    papers : str
        Optional parquet listing every paper (column ``paper_id_column``); those papers get
        indices ``0..P-1`` in file order and a score even without citations.
    unknown_papers : {"keep", "drop", "error"}
        What to do with citations naming a paper absent from ``papers``.
    batch_rows : int
        Record batch size.
    fmt : {"auto", "parquet", "csv", "tsv", "jsonl"}
        The files' format (``auto``: by name, else by content).
    weight_offset : float
        Added to every weight (``1 + isinfluential`` with Semantic Scholar's boolean column).
    compact_ids : bool
        String ids that are one prefix and digits (``https://openalex.org/W2741809807``,
        ``0001001``) are read as integers and written back as the same strings
        (:mod:`ranker.io.id_patterns`); the pattern is taken from the first rows (and the papers
        file), and a later id that breaks it sends the whole read down the string path again.
        Not on a sharded read.
    advance : callable, optional
        Called with the number of rows read after each batch (progress).
    shard_of : (rank, world_size), optional
        Read only this process's share of the rows (:func:`shard`); indices are then local to
        the share (:mod:`ranker.parallel.ingest` numbers them globally), ``papers`` must be empty,
        and an empty share gives an empty edge list instead of an error.

    Returns
    -------
    EdgeList

    Raises
    ------
    InputError
        Missing or mistyped column, null id, bad weight, corrupt file, id types that differ
        between files, duplicate ids in ``papers``, an unknown paper with ``unknown_papers="error"``.
    GraphError
        No citations at all.
    """
    if not (papers or weight_column or shard_of is not None) and compact_ids and files and all(
            _format(f, fmt) == "jsonl" for f in files):
        scanned = _scanned(files, citing_column, cited_column, advance)
        if scanned is not None:
            return scanned
    known, kind, kind_from = None, None, ""
    if papers:
        known, kind, _ = read_papers(papers, paper_id_column, batch_rows)
        kind_from = papers
    sources, kind = _open_sources(files, citing_column, cited_column, weight_column, fmt, kind, kind_from)
    if shard_of is not None:
        assert not papers, "a sharded read numbers papers locally: pass the papers file to ranker.parallel"
        sources = shard(sources, *shard_of)
    total = sum(s.num_rows for s in sources)
    if total == 0:
        if shard_of is not None:
            return _empty_share(kind, len(files), bool(weight_column))
        raise GraphError(f"{', '.join(files)}: no citations (0 rows)")
    columns = [citing_column, cited_column] + ([weight_column] if weight_column else [])
    codes, weights, ids, how, cites_nothing = number_citations(
        sources, columns, kind, total, known=known, papers=papers, paper_id_column=paper_id_column,
        batch_rows=batch_rows, weight_offset=weight_offset, advance=advance,
        compact_ids=compact_ids and shard_of is None)
    lonely = int(cites_nothing.sum()) if cites_nothing is not None else 0
    stats: dict[str, Any] = {"citation_rows": total - lonely, "files": len(files), **how}
    if lonely:
        stats["records_citing_nothing"] = lonely
    if known is not None:
        codes, weights, ids, cites_nothing = _settle_unknown_papers(
            codes, weights, ids, sources, stats, papers, unknown_papers, citing_column, cited_column, cites_nothing)
    rows = None  # each pair's row among those read, once the rows of records citing nothing are dropped
    if cites_nothing is not None and cites_nothing.any():
        rows = np.flatnonzero(~cites_nothing)
        codes, weights = codes[rows], None if weights is None else weights[rows]
    pa.default_memory_pool().release_unused()  # hand the batches' cached memory back to the system
    return EdgeList(citing=codes[:, 0], cited=codes[:, 1], weight=weights, ids=ids, stats=stats, pairs=codes,
                    read_rows=total, source_rows=rows)


def _open_sources(files: list[str], citing_column: str, cited_column: str, weight_column: str, fmt: str,
                  kind: str | None, kind_from: str) -> tuple[list[ParquetSource], str]:
    """Every citation file opened and checked: its columns, and one id kind across files (and papers)."""
    required = {citing_column: "id", cited_column: "id"}
    if weight_column:
        required[weight_column] = "number"
    def opened(f: str) -> ParquetSource:
        return open_parquet(f, required, role="citations", fmt=fmt, explode=cited_column)

    # text files (a snapshot's gzipped JSON parts) are converted on every core at once; the first
    # error in file order is the one raised, as when they are read one by one
    workers = min(len(files), os.cpu_count() or 1)
    if workers > 1 and any(_format(f, fmt) not in ("parquet", "unreadable") for f in files):
        with ThreadPoolExecutor(workers) as pool:
            sources = list(pool.map(opened, files))
    else:
        sources = [opened(f) for f in files]
    for src in sources:
        schema = src.file.schema_arrow
        for col in (citing_column, cited_column):
            src_kind = id_kind(schema.field(col).type)
            assert src_kind is not None
            if kind is None:
                kind, kind_from = src_kind, src.path
            else:
                check_kind(kind, src_kind, src.path, col, kind_from)
    assert kind is not None
    return sources, kind


def _format(path: str, fmt: str) -> str:
    """``path``'s format (:func:`ranker.io.formats.detect_format`), or ``unreadable``: opening it says why."""
    try:
        return detect_format(path, fmt)
    except (OSError, InputError):
        return "unreadable"  # the general reader says why


def _scanned(files: list[str], citing_column: str, cited_column: str, advance: Advance | None) -> EdgeList | None:
    """The citations of JSON Lines parts by the works scanner (:mod:`ranker.io.works_snapshot`), or
    None when it cannot read them, or when they are too few for its compiled pass to pay
    (:func:`ranker.kernels.compiled_pays`). Measured whole processes on generated OpenAlex-shaped
    parts: 5,000 works (100k citations) took 30.5 s with the scanner on a machine's first run
    (compiling the kernels) and 2.9-3.2 s after, against 3.4-3.8 s by the general reader; 50,000
    works 4.1-4.3 s against 5.9 s."""
    from .works_snapshot import likely_citations, read_works

    if not compiled_pays(likely_citations(files)):
        return None
    got = read_works(files, citing_column, cited_column)
    if got is None:
        return None
    codes, ids, facts, lonely = got
    if len(codes) == 0 and lonely == 0:
        raise GraphError(f"{', '.join(files)}: no citations (0 rows)")
    if advance is not None:
        advance(len(codes))
    stats: dict[str, Any] = {"citation_rows": len(codes), "files": len(files), **facts}
    if lonely:
        stats["records_citing_nothing"] = lonely
    log.info("read %d file(s) with the works scanner: %d citations, %d papers", len(files), len(codes), len(ids))
    return EdgeList(citing=codes[:, 0], cited=codes[:, 1], weight=None, ids=ids, stats=stats, pairs=codes,
                    read_rows=len(codes) + lonely)


def _empty_share(kind: str, n_files: int, weighted: bool) -> EdgeList:
    """The edge list of a process whose share of the rows is empty."""
    none = np.empty((0, 2), np.int32)
    empty = pa.array([], pa.large_string() if kind == "string" else pa.int64())
    return EdgeList(citing=none[:, 0], cited=none[:, 1], weight=np.empty(0) if weighted else None,
                    ids=IdMap(ids=empty, kind=kind), stats={"citation_rows": 0, "files": n_files}, pairs=none)


def _settle_unknown_papers(codes: np.ndarray, weights: np.ndarray | None, ids: IdMap,
                           sources: list[ParquetSource], stats: dict[str, Any], papers: str, unknown_papers: str,
                           citing_column: str, cited_column: str, cites_nothing: np.ndarray | None = None
                           ) -> tuple:
    """``[input] unknown_papers`` for citations naming papers absent from the papers file (indices
    ``>= ids.n_known``): kept, dropped (with their rows), or an error naming the first row. A record
    citing nothing (its row in ``cites_nothing``) that the papers file lacks is settled alike."""
    citing_idx, cited_idx = codes[:, 0], codes[:, 1]
    n, n_known = len(ids), ids.n_known
    unknown = (citing_idx >= n_known) | (cited_idx >= n_known)
    n_unknown_rows = int(unknown.sum())
    stats["unknown_paper_rows"] = n_unknown_rows - (int((unknown & cites_nothing).sum()) if cites_nothing is not None
                                                    else 0)
    stats["unknown_papers"] = n - n_known
    if not n_unknown_rows:
        return codes, weights, ids, cites_nothing
    if unknown_papers == "error":
        i = first_true(unknown)
        file, frow = locate_row(sources, i)
        bad = citing_column if citing_idx[i] >= n_known else cited_column
        missing = ids.output_ids(np.array([int(max(citing_idx[i], cited_idx[i]))]))[0].as_py()
        raise InputError(f"{where(file, bad, frow)}: paper {missing!r} is not in {papers}")
    if unknown_papers == "drop":
        keep = ~unknown
        log.info("dropped %d citation rows naming %d papers absent from %s", n_unknown_rows, n - n_known, papers)
        kept = (IdMap(ids=ids.ids.slice(0, n_known), kind=ids.kind, n_known=n_known) if ids.numbers is None else
                IdMap(kind=ids.kind, n_known=n_known, pattern=ids.pattern, numbers=ids.numbers.slice(0, n_known)))
        return (codes[keep], None if weights is None else weights[keep], kept,
                None if cites_nothing is None else cites_nothing[keep])
    log.info("kept %d papers named by citations but absent from %s", n - n_known, papers)
    return codes, weights, ids, cites_nothing


def locate_row(sources: list[ParquetSource], row: int) -> tuple[str, int]:
    """File and file row of the ``row``-th row read from ``sources``."""
    for src in sources:
        if row < src.num_rows:
            return src.path, src.file_row(row)
        row -= src.num_rows
    raise AssertionError("row beyond input")  # pragma: no cover


