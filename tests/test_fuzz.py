"""Fuzzing ingest and the job-file parser: a documented error or networkx's scores, nothing else."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracles import nx_pagerank
from ranker import build_graph, pagerank, parse_config
from ranker.errors import ConfigError, RankerError
from ranker.io import read_citations

ID_TYPES = {"string": pa.string(), "large_string": pa.large_string(), "int64": pa.int64(), "int16": pa.int16(),
            "uint32": pa.uint32(), "float64": pa.float64()}
WEIGHT_TYPES = {"float64": pa.float64(), "float32": pa.float32(), "int32": pa.int32(), "string": pa.string()}

ids = st.one_of(st.none(), st.integers(0, 12))
weights = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-2, 5))


def _column(values, typ):
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return pa.array([None if v is None else f"{v:03d}" for v in values], typ)
    if pa.types.is_floating(typ):
        return pa.array([None if v is None else float(v) for v in values], typ)
    return pa.array(values, typ)


def _weights(values, typ):
    if pa.types.is_string(typ):
        return pa.array([None if v is None else str(v) for v in values], typ)
    if pa.types.is_integer(typ):
        return pa.array([None if v is None or not math.isfinite(v) or abs(v) > 1e6 else int(v) for v in values], typ)
    return pa.array([None if v is None else float(v) for v in values], typ)


files = st.lists(st.tuples(
    st.lists(st.tuples(ids, ids, weights), max_size=15),
    st.sampled_from(sorted(ID_TYPES)),
    st.sampled_from(sorted(WEIGHT_TYPES)),
    st.sampled_from(["ok", "ok", "ok", "drop_cited", "rename", "truncate", "garbage"]),
), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(files, st.booleans())
def test_ingest_fuzz(tmp_path_factory, spec, weighted):
    d = tmp_path_factory.mktemp("fuzz")
    paths = []
    for k, (rows, id_t, w_t, corruption) in enumerate(spec):
        cols = {"citing": _column([r[0] for r in rows], ID_TYPES[id_t]),
                "cited": _column([r[1] for r in rows], ID_TYPES[id_t]),
                "w": _weights([r[2] for r in rows], WEIGHT_TYPES[w_t])}
        if corruption == "drop_cited":
            del cols["cited"]
        if corruption == "rename":
            cols["src"] = cols.pop("citing")
        path = d / f"{k}.parquet"
        pq.write_table(pa.table(cols), path)
        if corruption == "truncate":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 3])
        if corruption == "garbage":
            path.write_bytes(b"PAR1" + bytes(range(50)))
        paths.append(str(path))
    try:
        e = read_citations(paths, weight_column="w" if weighted else "", batch_rows=4)
    except RankerError as exc:
        assert "\n" not in str(exc)
        return
    # success: everything was valid, and the scores must be networkx's
    n = len(e.ids)
    g = build_graph(e.citing, e.cited, n, e.weight, duplicates="sum")
    got = pagerank(g, tol=1e-15, max_iter=10_000).scores[:, 0].numpy()
    edges = list(zip(e.citing.tolist(), e.cited.tolist()))
    want = nx_pagerank(edges, n, weights=None if e.weight is None else e.weight.tolist(), multi=True)
    np.testing.assert_allclose(got, want, atol=1e-12)
    for rows, id_t, _, corruption in spec:
        assert corruption == "ok" and id_t != "float64"
        assert all(r[0] is not None and r[1] is not None for r in rows)


values = st.one_of(st.none(), st.booleans(), st.integers(-5, 2000), st.floats(allow_nan=True), st.text(max_size=6),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
keys = st.sampled_from(["alpha", "tol", "max_iter", "device", "dtype", "citations", "top_k", "seeds", "dir",
                        "duplicates", "self_citations", "weight_column", "batch_size", "bogus", "papers",
                        "synthetic", "on_nonconvergence", "index_dtype", "batch_rows"])
sections = st.sampled_from(["input", "rank", "personalize", "output", "other"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(sections, st.one_of(st.dictionaries(keys, values, max_size=4), values), max_size=4))
def test_job_parser_fuzz(tmp_path_factory, data):
    base = tmp_path_factory.getbasetemp()
    try:
        cfg = parse_config(data, base=base)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert 0 < cfg.rank.alpha < 1 and cfg.rank.tol > 0 and cfg.rank.max_iter >= 1


ENCODINGS = ["string", "large_string", "dict_string", "dict_large_string", "int32", "int64", "dict_int32",
             "dict_int64", "uint32"]


def _encoded(values, encoding):
    kind = encoding.removeprefix("dict_")
    if kind in ("string", "large_string"):
        arr = pa.array([f"p{v:03d}" for v in values], pa.string() if kind == "string" else pa.large_string())
    else:
        arr = pa.array(values, {"int32": pa.int32(), "int64": pa.int64(), "uint32": pa.uint32()}[kind])
    return arr.dictionary_encode() if encoding.startswith("dict_") else arr


edge_files = st.lists(st.tuples(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), min_size=1, max_size=20),
                                st.sampled_from(ENCODINGS), st.sampled_from(ENCODINGS),
                                st.integers(1, 7)), min_size=1, max_size=3)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(edge_files, st.booleans())
def test_id_encodings_mixed_across_files_and_columns_give_one_graph(tmp_path_factory, spec, strings):
    """Dictionary/plain, string/large_string, int32/int64/uint32 mixed across files and columns (row groups
    and batches of odd sizes): the graph is the one of the values, checked against networkx."""
    d = tmp_path_factory.mktemp("enc")
    paths, edges = [], []
    for k, (rows, enc_citing, enc_cited, group) in enumerate(spec):
        # one id kind per job (strings or integers), as the ingest requires
        enc_citing = _same_kind(enc_citing, strings)
        enc_cited = _same_kind(enc_cited, strings)
        t = pa.table({"citing": _encoded([r[0] for r in rows], enc_citing),
                      "cited": _encoded([r[1] for r in rows], enc_cited)})
        path = d / f"{k}.parquet"
        pq.write_table(t, path, row_group_size=group)
        paths.append(str(path))
        edges += rows
    e = read_citations(paths, batch_rows=3)
    ids = e.ids.ids.to_pylist()
    name = (lambda v: f"p{v:03d}") if strings else (lambda v: v)
    assert [(ids[i], ids[j]) for i, j in zip(e.citing, e.cited)] == [(name(a), name(b)) for a, b in edges]
    n = len(ids)
    got = pagerank(build_graph(e.citing, e.cited, n), tol=1e-15, max_iter=10_000).scores[:, 0].numpy()
    number = {v: i for i, v in enumerate(dict.fromkeys(v for edge in edges for v in edge))}
    want = nx_pagerank([(number[a], number[b]) for a, b in dict.fromkeys(edges)], len(number))
    order = [number[v if not strings else int(v[1:])] for v in ids]
    np.testing.assert_allclose(got, want[order], atol=1e-12)


def _same_kind(encoding, strings):
    is_string = "string" in encoding
    if is_string == strings:
        return encoding
    return {"string": "int64", "large_string": "int32", "dict_string": "dict_int64",
            "dict_large_string": "dict_int32", "int32": "large_string", "int64": "string", "dict_int32": "dict_string",
            "dict_int64": "dict_large_string", "uint32": "dict_string"}[encoding]
