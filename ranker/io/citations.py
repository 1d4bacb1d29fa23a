"""Parquet <-> tensors: streaming ingest, id renumbering and atomic output.

This is the only module that knows about paper ids. Everything downstream sees dense
indices ``0..n-1``; :class:`IdMap` turns them back into the ids of the input, with their
parquet type kept (string ids stay strings, integer ids stay integers).

Ingest streams each file in record batches. Per batch the two id columns are dictionary
encoded together (a hash pass in Arrow's C++), keeping only ``int32`` codes per row plus
the batch's small dictionary. At the end the batch dictionaries are merged into one global
dictionary with a single hash-table build (``pc.unique`` + ``pc.index_in``), and the codes
are remapped in place. Peak memory is about ``8`` bytes per citation (two ``int32`` codes)
plus the dictionaries, independent of Python object counts.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import GraphError, InputError, where
from .id_patterns import IdPattern, detect_pattern
from .ids import INT64_MAX, IdMap, first_true, id_kind, normalize_ids
from .sources import ParquetSource, check_kind, check_no_nulls, check_weights, iter_batches, open_parquet, shard

log = logging.getLogger("ranker")

Advance = Callable[[int], None]


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
    pairs: np.ndarray | None = None  # [E, 2] buffer that citing/cited view; see ranker.graph.graph_from_edges

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
    (:func:`read_citations`); see :func:`_duplicate_paper_error`.
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


def _duplicate_paper_error(path: str, id_column: str, ids: pa.Array, codes: np.ndarray) -> InputError:
    """The error for the first row of ``papers`` whose id already appeared on an earlier row."""
    order = np.arange(len(codes))
    first_idx = np.full(int(codes.max()) + 1, len(codes))
    np.minimum.at(first_idx, codes, order)
    dup = int(np.flatnonzero(first_idx[codes] != order)[0])
    return InputError(f"{where(path, id_column, dup)}: duplicate paper id {ids[dup].as_py()!r}")


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
    id_range = _dense_integer_range(sources, columns[:2], known, total) if kind == "integer" else None
    pattern, known_numbers = (_citation_pattern(sources, columns[:2], known)
                              if kind == "string" and compact_ids and shard_of is None else (None, None))
    numbering = None
    try:
        numbering = _start_numbering(kind, id_range, pattern, known, known_numbers, papers, paper_id_column)
        codes, weights, dicts, spans = _encode(sources, columns, kind, id_range, total, batch_rows, weight_offset,
                                               advance, pattern, numbering)
    except _NotCompact as exc:
        log.info("%s; reading the ids as text", exc)
        pattern = numbering = None
        codes, weights, dicts, spans = _encode(sources, columns, kind, id_range, total, batch_rows, weight_offset,
                                               advance, None, None)
    n_known = len(known) if known is not None else 0
    if id_range is not None:
        uniq = _number_dense(codes, id_range, known, papers, paper_id_column)
    elif numbering is not None:
        uniq = pa.array(numbering.ids.copy(), pa.int64())
        del numbering
    else:
        codes, uniq = _number_hashed(codes, dicts, spans, known, papers, paper_id_column)
    how = "dense integer range" if id_range is not None else "hashed"
    stats: dict[str, Any] = {"citation_rows": total, "files": len(files),
                             "id_numbering": how + (" (string ids as integers)" if pattern else "")}
    if pattern is not None:
        stats["id_pattern"] = {"prefix": pattern.prefix, "digits": pattern.width or "any, no leading zero"}
        log.info("string ids read as integers: %r followed by %s", pattern.prefix,
                 f"{pattern.width} digits" if pattern.width else "digits without leading zeros")
    ids = (IdMap(ids=uniq, kind=kind, n_known=n_known) if pattern is None
           else IdMap(kind=kind, n_known=n_known, pattern=pattern, numbers=uniq))
    if known is not None:
        codes, weights, ids = _settle_unknown_papers(codes, weights, ids, sources, stats, papers,
                                                     unknown_papers, citing_column, cited_column)
    pa.default_memory_pool().release_unused()  # hand the batches' cached memory back to the system
    return EdgeList(citing=codes[:, 0], cited=codes[:, 1], weight=weights, ids=ids, stats=stats, pairs=codes)


class _NotCompact(Exception):
    """A string id that does not follow the pattern the first rows gave."""


def _start_numbering(kind: str, id_range: tuple[int, int] | None, pattern: IdPattern | None,
                     known: pa.Array | None, known_numbers: pa.Array | None, papers: str, paper_id_column: str
                     ) -> Any:
    """The hash table that numbers ``int64`` ids (integer ids too spread for the dense table, and string
    ids as integers: the papers file's as ``known_numbers``), with the papers file's ids first (a
    repeated one is an error naming its row); None for the other paths."""
    if id_range is not None or (kind == "string" and pattern is None):
        return None
    from ..kernels.numbering import HashNumbering  # numba: loaded when a job needs it

    numbering = HashNumbering()
    if known is not None and len(known):
        numbers = known_numbers if pattern is not None else normalize_ids(known, "integer")
        assert numbers is not None
        codes = numbering.number(numbers.to_numpy(zero_copy_only=False))
        if not np.array_equal(codes, np.arange(len(known), dtype=codes.dtype)):
            raise _duplicate_paper_error(papers, paper_id_column, known, codes)
    return numbering


def _citation_pattern(sources: list[ParquetSource], columns: list[str], known: pa.Array | None
                      ) -> tuple[IdPattern | None, pa.Array | None]:
    """The id pattern of the first rows of the citations and of the papers file, if one, and the papers
    file's ids as its numbers (None without a papers file). Every id of the papers file is encoded
    (a compiled pass that fails on any id off the pattern); only when one is off is the pattern
    looked for in all of them (a regular expression over 20M ids takes about 20 s)."""
    sample = []
    for src in sources:
        if src.num_rows:
            for _, batch in iter_batches(src, columns, 1 << 16):
                sample += [normalize_ids(batch.column(0), "string"), normalize_ids(batch.column(1), "string")]
                break
            break
    known = normalize_ids(known, "string") if known is not None and len(known) else None
    if known is not None:
        sample.append(known.slice(0, 1 << 16))
    if not sample:
        return None, None
    pattern = detect_pattern(pa.concat_arrays(sample))
    if pattern is None or known is None:
        return pattern, None
    known_numbers = pattern.encode(known)
    if known_numbers is None and len(known) > 1 << 16:  # an id off the sample's pattern: try them all
        pattern = detect_pattern(pa.concat_arrays(sample[:-1] + [known]))
        known_numbers = pattern.encode(known) if pattern is not None else None
    return (pattern, known_numbers) if known_numbers is not None else (None, None)


def _open_sources(files: list[str], citing_column: str, cited_column: str, weight_column: str, fmt: str,
                  kind: str | None, kind_from: str) -> tuple[list[ParquetSource], str]:
    """Every citation file opened and checked: its columns, and one id kind across files (and papers)."""
    required = {citing_column: "id", cited_column: "id"}
    if weight_column:
        required[weight_column] = "number"
    sources = [open_parquet(f, required, role="citations", fmt=fmt, explode=cited_column) for f in files]
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


def _empty_share(kind: str, n_files: int, weighted: bool) -> EdgeList:
    """The edge list of a process whose share of the rows is empty."""
    none = np.empty((0, 2), np.int32)
    empty = pa.array([], pa.large_string() if kind == "string" else pa.int64())
    return EdgeList(citing=none[:, 0], cited=none[:, 1], weight=np.empty(0) if weighted else None,
                    ids=IdMap(ids=empty, kind=kind), stats={"citation_rows": 0, "files": n_files}, pairs=none)


def _encode(sources: list[ParquetSource], columns: list[str], kind: str, id_range: tuple[int, int] | None,  # noqa: C901 - a debt (issue 24)
            total: int, batch_rows: int, weight_offset: float, advance: Advance | None,
            pattern: IdPattern | None = None, numbering: Any = None) -> tuple:
    """Every batch validated and encoded on a thread pool (Arrow releases the GIL).

    Returns ``codes`` (``int32 [E, 2]``: (citing, cited) local dictionary codes, or ids minus the
    smallest id on the dense path), the weights, and each batch's dictionary and row span.
    Interleaved pairs read as little-endian int64 are ``cited * 2**32 + citing``, the graph
    builder's sort key (see :mod:`ranker.graph`).
    """
    citing_column, cited_column = columns[0], columns[1]
    weight_column = columns[2] if len(columns) > 2 else ""
    codes = np.empty((total, 2), dtype=np.int32)
    weights = np.empty(total, dtype=np.float64) if weight_column else None
    dicts: list[pa.Array] = []
    spans: list[tuple[int, int, int]] = []  # (row start, row end, dictionary offset)

    def encode(task: tuple[str, int, int, pa.RecordBatch]) -> tuple[int, int, pa.Array]:
        """Validate one batch and write its codes; runs on a worker thread."""
        path, first, row0, batch = task
        m = batch.num_rows
        citing, cited = batch.column(0), batch.column(1)
        check_no_nulls(citing, path, citing_column, first)
        check_no_nulls(cited, path, cited_column, first)
        if weights is not None:
            weights[row0:row0 + m] = check_weights(batch.column(2), path, weight_column, first) + weight_offset
        if id_range is not None:  # compact integer ids: the code is the id minus the smallest id
            lo, hi = id_range
            for k, (arr, name) in enumerate(((citing, citing_column), (cited, cited_column))):
                vals = arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
                if vals.size and (vals.min() < lo or vals.max() > hi):
                    raise InputError(f"{where(path, name)}: values outside the range its parquet statistics "
                                     f"state ({lo}..{hi}); the file's metadata is corrupt")
                np.subtract(vals, lo, out=codes[row0:row0 + m, k], casting="unsafe")
            return row0, m, pa.array([], pa.int64())
        if pattern is not None:  # string ids as integers: hashed as int64
            numbers = []
            for arr, name in ((citing, citing_column), (cited, cited_column)):
                got = pattern.encode(arr)
                if got is None:
                    bad = first_true(pc.invert(pc.fill_null(pattern.matches(arr), True)))
                    raise _NotCompact(f"{where(path, name, first + bad)}: id {arr[bad].as_py()!r} does not follow "
                                      f"the pattern of the first ids ({pattern.prefix!r} and digits)")
                numbers.append(got)
            citing, cited = numbers
        if numbering is not None:  # numbered in batch order by the caller, on one table
            if pattern is None:
                citing = normalize_ids(citing, "integer", (path, citing_column, first))
                cited = normalize_ids(cited, "integer", (path, cited_column, first))
            return row0, m, (citing.to_numpy(zero_copy_only=False), cited.to_numpy(zero_copy_only=False))
        if citing.type != cited.type or pa.types.is_uint64(citing.type):
            citing = normalize_ids(citing, kind, (path, citing_column, first))
            cited = normalize_ids(cited, kind, (path, cited_column, first))
        enc = pc.dictionary_encode(pa.chunked_array([citing, cited]))
        codes[row0:row0 + m, 0] = enc.chunk(0).indices.to_numpy(zero_copy_only=False)
        codes[row0:row0 + m, 1] = enc.chunk(1).indices.to_numpy(zero_copy_only=False)
        return row0, m, normalize_ids(enc.chunk(0).dictionary, kind)

    def tasks() -> Iterator[tuple[str, int, int, pa.RecordBatch]]:
        row0 = 0
        for src in sources:
            if src.num_rows == 0:
                if src.file.metadata.num_rows == 0:
                    log.warning("%s: empty citations file (0 rows), skipped", src.path)
                continue
            for first, batch in iter_batches(src, columns, batch_rows):
                yield src.path, first, row0, batch
                row0 += batch.num_rows

    dict_offset = 0

    def collect(result: tuple[int, int, Any]) -> int:
        if numbering is None:
            return _collect(result, dicts, spans, dict_offset, advance)
        row0, m, (citing, cited) = result  # in batch order: codes in order of first appearance
        numbering.number(citing, out=codes[row0:row0 + m, 0])
        numbering.number(cited, out=codes[row0:row0 + m, 1])
        spans.append((row0, row0 + m, 0))
        if advance is not None:
            advance(m)
        return 0

    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        for task in tasks():
            pending.append(pool.submit(encode, task))
            while len(pending) > workers:  # bounded memory: at most workers + 1 batches in flight
                dict_offset = collect(pending.popleft().result())
        while pending:
            dict_offset = collect(pending.popleft().result())
    assert sum(end - start for start, end, _ in spans) == total
    return codes, weights, dicts, spans


def _settle_unknown_papers(codes: np.ndarray, weights: np.ndarray | None, ids: IdMap,
                           sources: list[ParquetSource], stats: dict[str, Any], papers: str, unknown_papers: str,
                           citing_column: str, cited_column: str) -> tuple:
    """``[input] unknown_papers`` for citations naming papers absent from the papers file (indices
    ``>= ids.n_known``): kept, dropped (with their rows), or an error naming the first row."""
    citing_idx, cited_idx = codes[:, 0], codes[:, 1]
    n, n_known = len(ids), ids.n_known
    unknown = (citing_idx >= n_known) | (cited_idx >= n_known)
    n_unknown_rows = int(unknown.sum())
    stats["unknown_paper_rows"] = n_unknown_rows
    stats["unknown_papers"] = n - n_known
    if not n_unknown_rows:
        return codes, weights, ids
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
        return codes[keep], None if weights is None else weights[keep], kept
    log.info("kept %d papers named by citations but absent from %s", n - n_known, papers)
    return codes, weights, ids


def _dense_integer_range(sources: list[ParquetSource], columns: list[str], known: pa.Array | None,
                         total: int) -> tuple[int, int] | None:
    """``(min, max)`` of the integer ids when every row group has statistics and the range is
    compact enough for a lookup table (at most ``4 x`` the ids it could hold, and int32)."""
    lo, hi = None, None
    for src in sources:
        md = src.file.metadata
        names = src.file.schema_arrow.names
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for col in columns:
                st = rg.column(names.index(col)).statistics
                if st is None or not st.has_min_max or rg.num_rows == 0:
                    if rg.num_rows == 0:
                        continue
                    return None
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
                if hi > INT64_MAX:  # unsigned ids beyond int64: the hashed path reports the row
                    return None
    if known is not None and len(known):
        kmin, kmax = pc.min_max(known).values()
        lo = kmin.as_py() if lo is None else min(lo, kmin.as_py())
        hi = kmax.as_py() if hi is None else max(hi, kmax.as_py())
    if lo is None or hi is None:
        return None
    span = hi - lo + 1
    limit = max(1 << 24, 4 * (2 * total + (len(known) if known is not None else 0)))
    return (int(lo), int(hi)) if span <= min(limit, 2**31 - 1) else None


def _number_dense(codes: np.ndarray, id_range: tuple[int, int], known: pa.Array | None, papers: str,
                  paper_id_column: str) -> pa.Array:
    """Number compact integer ids with a lookup table: papers first (file order), then the
    other ids by value. Remaps ``codes`` (id minus the smallest id) in place; returns the ids."""
    lo, hi = id_range
    table = np.full(hi - lo + 1, -1, dtype=np.int32)
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[codes.reshape(-1)] = True
    parts = []
    n_known = 0
    if known is not None and len(known):
        k = known.to_numpy(zero_copy_only=False).astype(np.int64) - lo
        n_known = k.size
        table[k] = np.arange(n_known, dtype=np.int32)
        if not np.array_equal(table[k], np.arange(n_known, dtype=np.int32)):
            raise _duplicate_paper_error(papers, paper_id_column, known, k)
        present[k] = False
        parts.append(known.to_numpy(zero_copy_only=False).astype(np.int64))
    rest = np.flatnonzero(present)
    table[rest] = np.arange(n_known, n_known + rest.size, dtype=np.int32)
    parts.append(rest.astype(np.int64) + lo)
    for s in range(0, codes.shape[0], 1 << 22):
        seg = codes[s:s + (1 << 22)]
        np.take(table, seg, out=seg)
    return pa.array(np.concatenate(parts), pa.int64())


def _number_hashed(codes: np.ndarray, dicts: list[pa.Array], spans: list[tuple[int, int, int]],
                   known: pa.Array | None, papers: str, paper_id_column: str) -> tuple[np.ndarray, pa.Array]:
    """One global dictionary: papers first (indices 0..P-1 in file order), then the other ids in
    order of first appearance; one hash pass gives the ids and every batch's mapping. Remaps
    ``codes`` (widened to int64 beyond 2**31 papers); deterministic for a sorted file list."""
    n_known = len(known) if known is not None else 0
    parts = ([known] if known is not None else []) + dicts
    all_ids = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
    merged = pc.dictionary_encode(all_ids)
    del all_ids, parts
    uniq = merged.dictionary
    global_of = merged.indices.to_numpy(zero_copy_only=False)
    del merged
    if n_known and not np.array_equal(global_of[:n_known], np.arange(n_known, dtype=global_of.dtype)):
        assert known is not None
        raise _duplicate_paper_error(papers, paper_id_column, known, global_of[:n_known])
    global_of = global_of[n_known:]
    if len(uniq) >= 2**31:
        codes = codes.astype(np.int64)
        global_of = global_of.astype(np.int64)
    for start, end, off in spans:
        seg = codes[start:end]
        np.take(global_of[off:], seg, out=seg)
    return codes, uniq


def _collect(result: tuple[int, int, pa.Array], dicts: list[pa.Array], spans: list[tuple[int, int, int]],
             dict_offset: int, advance: Advance | None) -> int:
    row0, m, dictionary = result
    dicts.append(dictionary)
    spans.append((row0, row0 + m, dict_offset))
    if advance is not None:
        advance(m)
    return dict_offset + len(dictionary)


def locate_row(sources: list[ParquetSource], row: int) -> tuple[str, int]:
    """File and file row of the ``row``-th row read from ``sources``."""
    for src in sources:
        if row < src.num_rows:
            return src.path, src.file_row(row)
        row -= src.num_rows
    raise AssertionError("row beyond input")  # pragma: no cover


