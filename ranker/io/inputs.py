"""Seed sets, and (below) the other inputs read once the graph's ids are known."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import GraphError, InputError, where
from .formats import column_names, detect_format, nested_ids
from .ids import IdMap, first_true, id_kind, normalize_ids
from .sources import (
    ParquetSource,
    check_columns,
    check_no_nulls,
    check_weights,
    checked_weight_column,
    iter_batches,
    open_parquet,
    read_columns,
)

# --------------------------------------------------------------------------- seeds


@dataclass
class SeedSets:
    """Seed sets for personalized PageRank, as index triplets.

    Attributes
    ----------
    names : list of str
        Seed set names in order of first appearance; column ``j`` of the teleport matrix.
    set_index, paper_index : numpy.ndarray
        ``int64 [m]``: row ``r`` puts weight ``weight[r]`` on paper ``paper_index[r]`` in set ``set_index[r]``.
    weight : numpy.ndarray
        ``float64 [m]``, ``>= 0``; each set's weights sum to a positive number.
    """

    names: list[str]
    set_index: np.ndarray
    paper_index: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


def read_seeds(path: str, ids: IdMap, *, seed_set_column: str = "seed_set", paper_id_column: str = "paper_id",
               weight_column: str = "") -> SeedSets:
    """Read the ``[personalize] seeds`` parquet and map its papers to indices.

    Raises
    ------
    InputError
        Missing columns, nulls, bad weights, id type unlike the citations', a paper id that
        is not in the graph (the message names the seed set and the row).
    GraphError
        A seed set whose weights are all zero, or a file with no rows.
    """
    src = open_parquet(path, {seed_set_column: "text", paper_id_column: "id"}, role="seeds")
    weight_column = checked_weight_column(src, weight_column, role="seeds")
    skind = id_kind(src.file.schema_arrow.field(paper_id_column).type)
    if skind != ids.kind:
        raise InputError(f"{where(path, paper_id_column)}: {skind} ids, but the citations have {ids.kind} ids")
    if src.num_rows == 0:
        raise GraphError(f"{path}: no seeds (0 rows)")
    set_chunks, paper_chunks, weight_chunks = [], [], []
    cols = [seed_set_column, paper_id_column] + ([weight_column] if weight_column else [])
    for first, batch in iter_batches(src, cols, 1_000_000):
        names, pid = batch.column(0), batch.column(1)
        if names.null_count:
            raise InputError(f"{where(path, seed_set_column, first + first_true(names.is_null()))}: null seed set")
        check_no_nulls(pid, path, paper_id_column, first)
        idx = ids.lookup(normalize_ids(pid, ids.kind, (path, paper_id_column, first)))
        if idx.null_count:
            i = first_true(idx.is_null())
            raise InputError(f"{where(path, paper_id_column, first + i)}: seed set {names[i].as_py()!r} names "
                             f"paper {pid[i].as_py()!r}, which is not in the citation graph")
        set_chunks.append(names.cast(pa.large_string()))
        paper_chunks.append(idx.to_numpy(zero_copy_only=False).astype(np.int64))
        w = (check_weights(batch.column(2), path, weight_column, first) if weight_column
             else np.ones(batch.num_rows))
        weight_chunks.append(w)
    all_names = pa.concat_arrays(set_chunks)
    uniq = pc.unique(all_names)
    set_index = pc.index_in(all_names, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64)
    weight = np.concatenate(weight_chunks)
    totals = np.bincount(set_index, weights=weight, minlength=len(uniq))
    if (totals <= 0).any():
        j = first_true(totals <= 0)
        raise GraphError(f"{where(path, weight_column or 'weight')}: seed set {uniq[j].as_py()!r} "
                         "has zero total weight")
    return SeedSets(names=uniq.to_pylist(), set_index=set_index, paper_index=np.concatenate(paper_chunks),
                    weight=weight)


# --------------------------------------------------------------------------- paper metadata and authors


def _time_columns(path: str, id_column: str, wanted: tuple[str, str], why: str) -> tuple[ParquetSource, list[str]]:
    """The papers file opened, and which of the two time columns ``wanted`` it has (an
    :class:`InputError` naming its columns when it has neither)."""
    f = open_parquet(path, {id_column: "id"}, role="papers")
    names = f.file.schema_arrow.names
    cols = [c for c in wanted if c and c in names]
    if not cols:
        raise InputError(f"{path}: needs a {wanted[0]!r} or {wanted[1]!r} column {why}; columns are "
                         f"{', '.join(names)}")
    return f, cols


def read_paper_days(path: str, id_column: str = "paper_id", date_column: str = "date",
                    year_column: str = "year") -> np.ndarray:
    """Publication time of each row of ``[input] papers``, in days since 1970-01-01.

    Uses ``date_column`` (a date or timestamp) where present and not null, else
    ``year_column`` (the middle of that year). ``NaN`` where neither is known.

    Returns
    -------
    numpy.ndarray
        ``float64 [P]`` in the file's row order (the papers' node order at ingest).

    Raises
    ------
    InputError
        Neither column exists, or one has an unusable type.
    """
    f, cols = _time_columns(path, id_column, (date_column, year_column), "for this ranking")
    out = np.full(f.num_rows, np.nan)
    table = read_columns(f, cols)
    if year_column in cols:
        y = table.column(year_column)
        if not pa.types.is_integer(y.type) and not pa.types.is_floating(y.type):
            raise InputError(f"{where(path, year_column)}: has type {y.type}, expected years as numbers")
        yv = y.cast(pa.float64()).to_numpy(zero_copy_only=False)
        out = (yv - 1970.0) * 365.25 + 182.625
    if date_column in cols:
        d = table.column(date_column)
        if pa.types.is_string(d.type) or pa.types.is_large_string(d.type):  # ISO text: OpenAlex's publication_date
            try:
                d = d.cast(pa.date32())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(f"{where(path, date_column)}: text that is not an ISO date (YYYY-MM-DD)") from None
        if pa.types.is_timestamp(d.type) or pa.types.is_date64(d.type):
            d = d.cast(pa.timestamp("ms")).cast(pa.int64())
            dv = d.cast(pa.float64()).to_numpy(zero_copy_only=False) / 86_400_000.0
        elif pa.types.is_date32(d.type):
            dv = d.cast(pa.int32()).cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            raise InputError(f"{where(path, date_column)}: has type {d.type}, expected a date or timestamp")
        out = np.where(np.isnan(dv), out, dv)
    return out


def read_paper_years(path: str, id_column: str = "paper_id", date_column: str = "date",
                     year_column: str = "year") -> np.ndarray:
    """Publication year of each row of ``[input] papers``: ``year_column`` where present and not null,
    else the year of ``date_column``.

    Returns
    -------
    numpy.ndarray
        ``float64 [P]`` whole years in the file's row order (the papers' node order at ingest),
        ``NaN`` where neither is known.

    Raises
    ------
    InputError
        Neither column exists, a column has an unusable type, or a year is not a whole number.
    """
    f, cols = _time_columns(path, id_column, (year_column, date_column), "for each paper's year")
    table = read_columns(f, cols)
    out = np.full(f.num_rows, np.nan)
    if date_column in cols:
        d = table.column(date_column)
        if pa.types.is_string(d.type) or pa.types.is_large_string(d.type):
            try:
                d = d.cast(pa.date32())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(f"{where(path, date_column)}: text that is not an ISO date (YYYY-MM-DD)") from None
        if not (pa.types.is_timestamp(d.type) or pa.types.is_date(d.type)):
            raise InputError(f"{where(path, date_column)}: has type {d.type}, expected a date or timestamp")
        out = pc.year(d).cast(pa.float64()).to_numpy(zero_copy_only=False)
    if year_column in cols:
        y = table.column(year_column)
        if not pa.types.is_integer(y.type) and not pa.types.is_floating(y.type):
            raise InputError(f"{where(path, year_column)}: has type {y.type}, expected years as numbers")
        yv = y.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(~np.isnan(yv) & ((yv != np.round(yv)) | (np.abs(yv) > 9999)))
        if bad.size:
            raise InputError(f"{where(path, year_column, int(bad[0]))}: {yv[bad[0]]!r} is not a year (a whole number "
                             "between -9999 and 9999)")
        out = np.where(np.isnan(yv), out, yv)
    return out


def read_paper_columns(path: str, columns: list[str], id_column: str = "paper_id") -> pa.Table:
    """Some columns of ``[input] papers`` in the file's row order (the papers' node order at ingest);
    a missing column is an :class:`InputError` naming the file and the columns it has."""
    f = open_parquet(path, {id_column: "id"}, role="papers")
    names = f.file.schema_arrow.names
    for c in columns:
        if c not in names:
            raise InputError(f"{path}: no column {c!r} (named in [output] normalize_by); columns are "
                             f"{', '.join(names)}")
    return read_columns(f, columns)


def has_dates(path: str, date_column: str = "date") -> bool:
    """Whether ``[input] papers`` gives any paper a date (else times are years at best)."""
    f = open_parquet(path, {}, role="papers")
    if not date_column or date_column not in f.file.schema_arrow.names:
        return False
    col = read_columns(f, [date_column]).column(0)
    return col.null_count < len(col)


def read_paper_facts(path: str, id_column: str = "paper_id", columns: dict[str, str] | None = None,
                     ) -> pa.Table | None:
    """The columns of ``[input] papers`` an analyst reads beside a score, renamed: ``columns`` maps
    a column of the file to its name in the outputs (default ``year``, ``date`` and ``title``);
    those the file has, with ``paper_id``. None when it has none of them. Dates given as ISO
    text or timestamps (OpenAlex's ``publication_date``, which Arrow's JSON reader infers as a
    timestamp) become dates."""
    columns = columns or {"year": "year", "date": "date", "title": "title"}
    f = open_parquet(path, {id_column: "id"}, role="papers")
    names = f.file.schema_arrow.names
    have = [c for c in columns if c and c in names and c != id_column]
    if not have:
        return None
    table = read_columns(f, [id_column] + have).rename_columns(["paper_id"] + [columns[c] for c in have])
    date_type = table.schema.field("date").type if "date" in table.column_names else None
    if date_type is not None and (pa.types.is_string(date_type) or pa.types.is_large_string(date_type)
                                  or pa.types.is_timestamp(date_type)):  # JSON infers ISO dates as timestamps
        try:
            table = table.set_column(table.column_names.index("date"), "date", table.column("date").cast(pa.date32()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # not ISO dates: shown as written
    return table


@dataclass
class Authorships:
    """Who wrote which paper, as indices.

    Attributes
    ----------
    paper, author, position : numpy.ndarray
        ``int64 [m]``: each (paper, author) pair once (the first row of a repeated pair wins).
    authors : pyarrow.Array
        ``authors[a]`` is the author id of index ``a`` (its parquet type kept).
    skipped_rows : int
        Rows naming papers that are not in the citation graph (not counted).
    """

    paper: np.ndarray
    author: np.ndarray
    position: np.ndarray
    authors: pa.Array
    skipped_rows: int = 0


def _has_column(path: str, column: str) -> bool:
    return column in column_names(path, detect_format(path))


def open_nested(path: str, key_column: str, nested: str) -> ParquetSource:
    """An authorships source read through :func:`ranker.io.formats.nested_ids`."""
    copy = nested_ids(path, detect_format(path), key_column, nested)
    f = pq.ParquetFile(copy.path)
    src = ParquetSource(path=path, file=f, num_rows=f.metadata.num_rows, exploded=True, read_path=copy.path)
    check_columns(src, {key_column: "id", nested: "id"}, role="authorships")
    return src


def read_authorships(path: str, ids: IdMap, *, paper_column: str = "paper_id", author_column: str = "author",
                     position_column: str = "position") -> Authorships:
    """Read ``[input] authorships`` and map papers to graph indices.

    ``position_column`` is optional in the file (0 = first author); without it the authors of
    a paper are ranked in file order. Rows naming papers outside the graph are skipped and
    counted. An ``author_column`` with dots that is not a column names the author id inside a
    list of records (OpenAlex works: ``authorships.author.id``): one authorship per element,
    in list (byline) order (:func:`ranker.io.formats.nested_ids`).

    Raises
    ------
    InputError
        Missing columns, nulls, a paper id type unlike the citations', negative positions.
    """
    if "." in author_column and not _has_column(path, author_column):  # OpenAlex: authorships.author.id
        probe = open_nested(path, paper_column, author_column)
        position_column = "position"
    else:
        probe = open_parquet(path, {paper_column: "id", author_column: "id"}, role="authorships")
    has_pos = bool(position_column) and position_column in probe.file.schema_arrow.names
    if has_pos:
        check_columns(probe, {position_column: "number"}, role="authorships")
    pkind = id_kind(probe.file.schema_arrow.field(paper_column).type)
    if pkind != ids.kind:
        raise InputError(f"{where(path, paper_column)}: {pkind} ids, but the citations have {ids.kind} ids")
    akind = id_kind(probe.file.schema_arrow.field(author_column).type)
    assert akind is not None
    cols = [paper_column, author_column] + ([position_column] if has_pos else [])
    papers, authors, positions = [], [], []
    for first, batch in iter_batches(probe, cols, 1_000_000):
        check_no_nulls(batch.column(0), path, paper_column, first)
        a = batch.column(1)
        if a.null_count:
            raise InputError(f"{where(path, author_column, first + first_true(a.is_null()))}: null author")
        papers.append(normalize_ids(batch.column(0), ids.kind, (path, paper_column, first)))
        authors.append(normalize_ids(a, akind, (path, author_column, first)))
        if has_pos:
            pcol = batch.column(2)
            if pcol.null_count:
                raise InputError(f"{where(path, position_column, first + first_true(pcol.is_null()))}: null position")
            pv = pcol.cast(pa.int64()).to_numpy(zero_copy_only=False)
            if (pv < 0).any():
                i = first_true(pv < 0)
                raise InputError(f"{where(path, position_column, first + i)}: negative position {int(pv[i])}")
            positions.append(pv)
    m = sum(len(p) for p in papers)
    if m == 0:
        empty = np.zeros(0, np.int64)
        return Authorships(empty, empty, empty, pa.array([], pa.large_string() if akind == "string" else pa.int64()))
    paper_idx = ids.lookup(pa.concat_arrays(papers))
    enc = pc.dictionary_encode(pa.concat_arrays(authors))
    author_idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    position = np.concatenate(positions) if has_pos else np.arange(m, dtype=np.int64)  # file order ranks
    known = paper_idx.is_valid().to_numpy(zero_copy_only=False)
    p = paper_idx.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)[known]
    a, pos = author_idx[known], position[known]
    # each (paper, author) once: keep the first row of a repeated pair
    key = p * (int(author_idx.max()) + 1) + a
    _, first_rows = np.unique(key, return_index=True)
    first_rows.sort()
    # authors with no paper in the graph are dropped; the rest keep their order of first appearance
    used, author_local = np.unique(a[first_rows], return_inverse=True)
    return Authorships(paper=p[first_rows], author=author_local.astype(np.int64), position=pos[first_rows],
                       authors=enc.dictionary.take(pa.array(used)), skipped_rows=int(m - known.sum()))


def read_coauthorships(path: str, *, column_a: str = "author_a", column_b: str = "author_b",
                       weight_column: str = "") -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Read ``[input] coauthorships``: undirected author pairs with an optional weight.

    Returns
    -------
    author_a, author_b : pyarrow.Array
        Author ids (``large_string`` or ``int64``).
    weight : numpy.ndarray
        ``float64``; 1 where the file has no weight column (``weight`` is used when present).

    Raises
    ------
    InputError
        Missing columns, nulls, bad weights, the two columns of different id types.
    """
    probe = open_parquet(path, {column_a: "id", column_b: "id"}, role="coauthorships")
    weight_column = checked_weight_column(probe, weight_column, role="coauthorships")
    ka = id_kind(probe.file.schema_arrow.field(column_a).type)
    kb = id_kind(probe.file.schema_arrow.field(column_b).type)
    if ka != kb:
        raise InputError(f"{where(path, column_b)}: {kb} ids, but {column_a!r} has {ka} ids")
    assert ka is not None
    a_chunks, b_chunks, w_chunks = [], [], []
    cols = [column_a, column_b] + ([weight_column] if weight_column else [])
    for first, batch in iter_batches(probe, cols, 1_000_000):
        for k, name in ((0, column_a), (1, column_b)):
            c = batch.column(k)
            if c.null_count:
                raise InputError(f"{where(path, name, first + first_true(c.is_null()))}: null author")
        a_chunks.append(normalize_ids(batch.column(0), ka, (path, column_a, first)))
        b_chunks.append(normalize_ids(batch.column(1), ka, (path, column_b, first)))
        w_chunks.append(check_weights(batch.column(2), path, weight_column, first) if weight_column
                        else np.ones(batch.num_rows))
    empty = pa.array([], pa.large_string() if ka == "string" else pa.int64())
    return (pa.concat_arrays(a_chunks) if a_chunks else empty, pa.concat_arrays(b_chunks) if b_chunks else empty,
            np.concatenate(w_chunks) if w_chunks else np.zeros(0))
