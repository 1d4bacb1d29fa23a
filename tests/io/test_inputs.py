"""Ingest from parquet: ids keep their type, papers without citations, and every input error."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oracles import write_parquet
from ranker.errors import GraphError, InputError
from ranker.io import IdMap, read_citations, read_seeds, write_parquet_atomic


def cit(tmp_path, citing, cited, name="c.parquet", **extra):
    return write_parquet(tmp_path / name, {"citing": citing, "cited": cited, **extra})


def test_string_ids_keep_leading_zeros(tmp_path):
    f = cit(tmp_path, ["0001001", "1001", "0001001"], ["1001", "0000001", "0000001"])
    e = read_citations([f])
    assert e.ids.kind == "string"
    assert e.ids.ids.to_pylist() == ["0001001", "1001", "0000001"]  # first appearance; "0001001" != "1001"
    assert e.citing.tolist() == [0, 1, 0] and e.cited.tolist() == [1, 2, 2]
    assert e.citing.dtype == np.int32


def test_integer_ids_stay_integers(tmp_path):
    f = cit(tmp_path, pa.array([10, 20], pa.int32()), pa.array([20, 30], pa.int32()))
    e = read_citations([f])
    assert e.ids.kind == "integer" and e.ids.output_ids().type == pa.int64()
    assert e.ids.ids.to_pylist() == [10, 20, 30]


def test_many_files_and_batches_give_global_indices(tmp_path):
    f1 = cit(tmp_path, ["a", "b", "c"], ["b", "c", "a"], name="1.parquet")
    f2 = cit(tmp_path, ["d", "a"], ["a", "d"], name="2.parquet")
    e = read_citations([f1, f2], batch_rows=2)
    ids = e.ids.ids.to_pylist()
    pairs = [(ids[i], ids[j]) for i, j in zip(e.citing, e.cited)]
    assert pairs == [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a"), ("a", "d")]


def test_papers_file_adds_uncited_papers_first(tmp_path):
    f = cit(tmp_path, ["x", "y"], ["y", "z"])
    p = write_parquet(tmp_path / "p.parquet", {"paper_id": ["lonely", "y", "x", "z"]})
    e = read_citations([f], papers=p)
    assert e.ids.ids.to_pylist() == ["lonely", "y", "x", "z"] and e.ids.n_known == 4


def test_unknown_papers_policies(tmp_path):
    f = cit(tmp_path, ["x", "y", "q"], ["y", "ghost", "x"])
    p = write_parquet(tmp_path / "p.parquet", {"paper_id": ["x", "y"]})
    keep = read_citations([f], papers=p)
    assert len(keep.ids) == 4 and keep.stats["unknown_paper_rows"] == 2
    drop = read_citations([f], papers=p, unknown_papers="drop")
    assert len(drop.ids) == 2 and drop.citing.tolist() == [0] and drop.cited.tolist() == [1]
    with pytest.raises(InputError, match=r"c.parquet, column 'cited', row 1: paper 'ghost' is not in"):
        read_citations([f], papers=p, unknown_papers="error")


def test_weights_are_read(tmp_path):
    f = cit(tmp_path, ["a", "b"], ["b", "a"], w=pa.array([2, 3], pa.int64()))
    e = read_citations([f], weight_column="w")
    assert e.weight.tolist() == [2.0, 3.0]


@pytest.mark.parametrize("bad,msg", [
    ([1.0, float("nan")], "row 1: bad weight nan"),
    ([1.0, -2.0], "row 1: bad weight -2.0"),
    ([float("inf"), 1.0], "row 0: bad weight inf"),
    ([1.0, None], "row 1: null weight"),
])
def test_bad_weights(tmp_path, bad, msg):
    f = cit(tmp_path, ["a", "b"], ["b", "a"], w=pa.array(bad, pa.float64()))
    with pytest.raises(InputError, match=f"c.parquet, column 'w', {msg}"):
        read_citations([f], weight_column="w", batch_rows=1)


def test_null_id_names_file_column_row(tmp_path):
    f = cit(tmp_path, ["a", "b", "c"], ["b", None, "a"])
    with pytest.raises(InputError, match=r"c.parquet, column 'cited', row 1: null id"):
        read_citations([f], batch_rows=1)


def test_missing_column(tmp_path):
    f = write_parquet(tmp_path / "c.parquet", {"src": ["a"], "cited": ["b"]})
    with pytest.raises(InputError, match=r"c.parquet: missing column 'citing'"):
        read_citations([f])


def test_float_id_column(tmp_path):
    f = cit(tmp_path, [1.0, 2.0], [2.0, 1.0])
    with pytest.raises(InputError, match=r"column 'citing': has type double, expected string or integer ids"):
        read_citations([f])


def test_mixed_id_types_across_files(tmp_path):
    f1 = cit(tmp_path, ["a"], ["b"], name="1.parquet")
    f2 = cit(tmp_path, [1], [2], name="2.parquet")
    with pytest.raises(InputError, match=r"2.parquet, column 'citing': integer ids, but .*1.parquet has string"):
        read_citations([f1, f2])


def test_corrupt_and_truncated_files(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"this is not parquet at all")
    with pytest.raises(InputError, match=r"junk.parquet: not a readable parquet file"):
        read_citations([str(junk)])
    good = cit(tmp_path, ["a"] * 1000, ["b"] * 1000)
    data = open(good, "rb").read()
    trunc = tmp_path / "trunc.parquet"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"trunc.parquet: not a readable parquet file"):
        read_citations([str(trunc)])


def test_empty_input_is_a_graph_error(tmp_path):
    f = write_parquet(tmp_path / "c.parquet", {"citing": pa.array([], pa.string()), "cited": pa.array([], pa.string())})
    with pytest.raises(GraphError, match=r"no citations \(0 rows\)"):
        read_citations([f])


def test_empty_file_among_others_is_skipped(tmp_path):
    empty = pa.array([], pa.string())
    f1 = write_parquet(tmp_path / "1.parquet", {"citing": empty, "cited": empty})
    f2 = cit(tmp_path, ["a"], ["b"], name="2.parquet")
    assert read_citations([f1, f2]).citing.tolist() == [0]


def test_duplicate_paper_ids(tmp_path):
    f = cit(tmp_path, ["a"], ["b"])
    p = write_parquet(tmp_path / "p.parquet", {"paper_id": ["a", "b", "c", "b"]})
    with pytest.raises(InputError, match=r"p.parquet, column 'paper_id', row 3: duplicate paper id 'b'"):
        read_citations([f], papers=p)


def _ids(values):
    return IdMap(ids=pa.array(values, pa.large_string()), kind="string")


def test_seeds(tmp_path):
    s = write_parquet(tmp_path / "s.parquet", {"seed_set": ["q", "p", "q"], "paper_id": ["b", "a", "c"],
                                               "weight": [1.0, 2.0, 3.0]})
    seeds = read_seeds(s, _ids(["a", "b", "c"]))
    assert seeds.names == ["q", "p"]
    assert seeds.set_index.tolist() == [0, 1, 0] and seeds.paper_index.tolist() == [1, 0, 2]
    assert seeds.weight.tolist() == [1.0, 2.0, 3.0]


def test_seed_errors(tmp_path):
    ids = _ids(["a", "b"])
    s = write_parquet(tmp_path / "s.parquet", {"seed_set": ["q", "r"], "paper_id": ["a", "zz"]})
    with pytest.raises(InputError, match=r"s.parquet, column 'paper_id', row 1: seed set 'r' names paper 'zz'"):
        read_seeds(s, ids)
    s = write_parquet(tmp_path / "z.parquet", {"seed_set": ["q", "r"], "paper_id": ["a", "b"], "weight": [1.0, 0.0]})
    with pytest.raises(GraphError, match=r"seed set 'r' has zero total weight"):
        read_seeds(s, ids)
    s = write_parquet(tmp_path / "i.parquet", {"seed_set": ["q"], "paper_id": [1]})
    with pytest.raises(InputError, match=r"integer ids, but the citations have string ids"):
        read_seeds(s, ids)


def test_atomic_write_leaves_no_temp_on_failure(tmp_path, monkeypatch):
    t = pa.table({"a": [1]})

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pq.ParquetWriter, "write_table", boom)
    with pytest.raises(KeyboardInterrupt):
        write_parquet_atomic(t, tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


def test_dense_integer_path_equals_hashed_path(tmp_path, monkeypatch):
    import ranker.io.id_numbering as rio

    rng = np.random.default_rng(4)
    f1 = cit(tmp_path, pa.array(rng.integers(1000, 1400, 500), pa.int32()),
             pa.array(rng.integers(1000, 1400, 500), pa.int32()), name="1.parquet")
    f2 = cit(tmp_path, pa.array(rng.integers(1200, 1500, 300)), pa.array(rng.integers(900, 1300, 300)),
             name="2.parquet")
    p = write_parquet(tmp_path / "p.parquet", {"paper_id": [5000, 1001, 7]})
    dense = read_citations([f1, f2], papers=p, batch_rows=128)
    assert dense.stats["id_numbering"] == "dense integer range"
    monkeypatch.setattr(rio, "dense_integer_range", lambda *a, **k: None)
    hashed = read_citations([f1, f2], papers=p, batch_rows=128)
    assert hashed.stats["id_numbering"] == "hashed"
    for e in (dense, hashed):
        assert e.ids.ids.to_pylist()[:3] == [5000, 1001, 7] and e.ids.n_known == 3
    ids_d, ids_h = dense.ids.ids.to_pylist(), hashed.ids.ids.to_pylist()
    assert sorted(ids_d) == sorted(ids_h)
    pairs_d = [(ids_d[a], ids_d[b]) for a, b in zip(dense.citing, dense.cited)]
    pairs_h = [(ids_h[a], ids_h[b]) for a, b in zip(hashed.citing, hashed.cited)]
    assert pairs_d == pairs_h


def test_dense_integer_path_finds_duplicate_papers(tmp_path):
    f = cit(tmp_path, [1, 2], [2, 3])
    p = write_parquet(tmp_path / "p.parquet", {"paper_id": [3, 1, 3]})
    with pytest.raises(InputError, match=r"p.parquet, column 'paper_id', row 2: duplicate paper id 3"):
        read_citations([f], papers=p)


# --------------------------------------------------------------------------- dictionary-encoded and unsigned ids


def test_dictionary_encoded_id_columns_give_the_graph_of_their_values(tmp_path):
    """Each dictionary column carries its own dictionary: codes of 'citing' and 'cited' mean nothing together."""
    t = pa.table({"citing": pa.array(["a", "b"]).dictionary_encode(),
                  "cited": pa.array(["b", "c"]).dictionary_encode()})
    pq.write_table(t, tmp_path / "d.parquet")
    e = read_citations([str(tmp_path / "d.parquet")])
    ids = e.ids.ids.to_pylist()
    assert len(ids) == 3
    assert [(ids[i], ids[j]) for i, j in zip(e.citing, e.cited)] == [("a", "b"), ("b", "c")]


def test_dictionary_columns_across_batches_and_files(tmp_path):
    """Categorical columns as pandas writes them: chunks (row groups) with different dictionaries."""
    rng = np.random.default_rng(3)
    citing = [f"p{i}" for i in rng.integers(0, 40, 300)]
    cited = [f"p{i}" for i in rng.integers(0, 40, 300)]

    def chunks(values):
        return pa.chunked_array([pa.array(values[k:k + 37]).dictionary_encode() for k in range(0, 150, 37)])

    pq.write_table(pa.table({"citing": chunks(citing[:150]), "cited": chunks(cited[:150])}), tmp_path / "1.parquet",
                   row_group_size=37)
    pq.write_table(pa.table({"citing": pa.array(citing[150:]).dictionary_encode(),
                             "cited": pa.array(cited[150:], pa.large_string())}), tmp_path / "2.parquet",
                   row_group_size=50)
    e = read_citations([str(tmp_path / "1.parquet"), str(tmp_path / "2.parquet")], batch_rows=16)
    ids = e.ids.ids.to_pylist()
    assert [(ids[i], ids[j]) for i, j in zip(e.citing, e.cited)] == list(zip(citing, cited))


def test_dictionary_encoded_integer_ids(tmp_path):
    t = pa.table({"citing": pa.array([10, 20], pa.int32()).dictionary_encode(),
                  "cited": pa.array([20, 30], pa.int64()).dictionary_encode()})
    pq.write_table(t, tmp_path / "d.parquet")
    e = read_citations([str(tmp_path / "d.parquet")])
    ids = e.ids.ids.to_pylist()
    assert sorted(ids) == [10, 20, 30]
    assert [(ids[i], ids[j]) for i, j in zip(e.citing, e.cited)] == [(10, 20), (20, 30)]


def test_dictionary_encoded_papers_and_seeds(tmp_path):
    f = cit(tmp_path, ["a", "b"], ["b", "c"])
    pq.write_table(pa.table({"paper_id": pa.array(["c", "d", "a", "b"]).dictionary_encode()}), tmp_path / "p.parquet")
    e = read_citations([f], papers=str(tmp_path / "p.parquet"))
    assert e.ids.ids.to_pylist()[:4] == ["c", "d", "a", "b"] and len(e.ids) == 4
    pq.write_table(pa.table({"seed_set": pa.array(["s", "s", "t"]).dictionary_encode(),
                             "paper_id": pa.array(["b", "d", "a"]).dictionary_encode()}), tmp_path / "s.parquet")
    s = read_seeds(str(tmp_path / "s.parquet"), e.ids)
    assert s.names == ["s", "t"] and s.paper_index.tolist() == [3, 1, 2]


def test_unsigned_ids_above_int64_are_one_line_errors(tmp_path):
    big = 2**63 + 5
    f = write_parquet(tmp_path / "u.parquet", {"citing": pa.array([1, 2, big], pa.uint64()),
                                               "cited": pa.array([2, 3, 1], pa.uint64())})
    with pytest.raises(InputError, match=rf"u.parquet, column 'citing', row 2: id {big} is above the largest"):
        read_citations([f])
    ok = write_parquet(tmp_path / "ok.parquet", {"citing": pa.array([1, 2], pa.uint64()),
                                                 "cited": pa.array([2, 2**63 - 1], pa.uint64())})
    assert read_citations([ok]).ids.ids.to_pylist() == [1, 2, 2**63 - 1]


def test_a_source_read_to_its_end_keeps_no_rows_in_memory(tmp_path):
    """Each pass over a source reads through a reader of its own (ParquetSource.fresh_reader): a
    pyarrow ParquetFile kept open holds about 11 bytes per row it has read (2.5 GB at 239M
    citations before the fix); the opened source keeps only its footer."""
    from ranker.io.sources import iter_batches, open_parquet

    n = 400_000
    write_parquet(tmp_path / "c.parquet", {"citing": [f"https://openalex.org/W{i}" for i in range(n)],
                                           "cited": [f"https://openalex.org/W{i + 1}" for i in range(n)]})
    src = open_parquet(str(tmp_path / "c.parquet"), {"citing": "id", "cited": "id"}, role="citations")
    before = pa.total_allocated_bytes()
    for _ in range(2):
        rows = sum(batch.num_rows for _, batch in iter_batches(src, ["citing", "cited"], 50_000))
        assert rows == n
    assert pa.total_allocated_bytes() - before < 256 * 1024, pa.total_allocated_bytes() - before


# ----------------------------------------------------------------------- reading ahead on a thread


def test_read_ahead_yields_every_item_in_order_and_stays_within_its_depth():
    import threading

    from ranker.io.sources import read_ahead

    produced, lock = [], threading.Lock()

    def items():
        for i in range(50):
            with lock:
                produced.append(i)
            yield i

    got = []
    for i in read_ahead(items(), depth=2):
        with lock:
            ahead = len(produced) - len(got)
        assert ahead <= 4  # in the queue (2), being handed over (1), being made (1)
        got.append(i)
    assert got == list(range(50))


def test_read_ahead_raises_the_producers_error_where_the_consumer_meets_it():
    from ranker.io.sources import read_ahead

    def items():
        yield from range(3)
        raise InputError("part-00001.parquet: corrupt or truncated parquet near row 7")

    got = []
    with pytest.raises(InputError, match="near row 7"):
        for i in read_ahead(items(), depth=8):
            got.append(i)
    assert got == [0, 1, 2]  # every item before the error was handed over first


def test_read_ahead_stops_its_thread_when_the_consumer_stops_early():
    import threading

    from ranker.io.sources import read_ahead

    made = []

    def items():
        for i in range(10_000):
            made.append(i)
            yield i

    before = threading.active_count()
    with pytest.raises(ValueError):
        for i in read_ahead(items(), depth=2):
            if i == 5:
                raise ValueError("the consumer failed")
    assert threading.active_count() == before  # the producer was joined
    assert len(made) < 20  # and stopped making items
