"""One call from a table to ranked papers (ranker.frames.rank), and a job's outputs as tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oracles import nx_pagerank, write_parquet
from ranker import parse_config, rank, run_job

CITING = ["x", "x", "y", "z", "z", "w", "w", "v"]
CITED = ["y", "z", "z", "x", "x", "x", "w", "u"]  # a duplicate, a self-citation, u dangling


def by_id(table: pa.Table, key: str = "paper_id") -> dict:
    return dict(zip(table.column(key).to_pylist(), table.column("score").to_pylist()))


def oracle(citing, cited, personalization=None, weights=None):
    ids = list(dict.fromkeys(list(citing) + list(cited)))
    idx = {p: i for i, p in enumerate(ids)}
    edges = [(idx[a], idx[b]) for a, b in zip(citing, cited)]
    if weights is None:
        edges = list(dict.fromkeys(edges))
    pers = None if personalization is None else np.array([personalization.get(p, 0.0) for p in ids])
    want = nx_pagerank(edges, len(ids), personalization=pers, weights=weights, multi=weights is not None)
    return dict(zip(ids, want))


def test_a_pandas_frame_of_string_ids_equals_networkx():
    table = rank(pd.DataFrame({"citing": CITING, "cited": CITED}), tol=1e-14)
    assert table.column_names == ["paper_id", "score", "rank", "share", "citations"]
    got, want = by_id(table), oracle(CITING, CITED)
    assert got.keys() == want.keys() and max(abs(got[k] - want[k]) for k in got) < 1e-12
    assert table.column("rank").to_pylist() == list(range(1, len(got) + 1))
    citations = dict(zip(table.column("paper_id").to_pylist(), table.column("citations").to_pylist()))
    assert citations == {"x": 2, "y": 1, "z": 2, "w": 1, "u": 1, "v": 0}  # distinct citers (duplicates once)


def test_an_arrow_table_with_integer_ids_and_weights_and_a_path_give_the_same():
    citing, cited = [10, 10, 20, 30, 40], [20, 30, 30, 10, 10]
    w = [1.0, 3.0, 2.0, 1.0, 0.5]
    got = by_id(rank(pa.table({"a": citing, "b": cited, "w": w}), citing="a", cited="b", weight="w", tol=1e-14))
    want = oracle(citing, cited, weights=w)
    assert max(abs(got[k] - want[k]) for k in got) < 1e-12 and set(got) == {10, 20, 30, 40}


def test_a_csv_path_is_read_as_a_job_reads_it(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("citing,cited\n" + "".join(f"{a},{b}\n" for a, b in zip(CITING, CITED)))
    got, want = by_id(rank(str(path), tol=1e-14)), oracle(CITING, CITED)
    assert max(abs(got[k] - want[k]) for k in got) < 1e-12


def test_seed_sets_give_each_sets_top_papers():
    seeds = {"one": ["v"], "two": ["x", "w"]}
    table = rank(pd.DataFrame({"citing": CITING, "cited": CITED}), seeds=seeds, top_k=3, tol=1e-14)
    assert table.column_names == ["seed_set", "paper_id", "score", "rank", "share", "is_seed"]
    for name, members in seeds.items():
        rows = table.filter(pa.compute.equal(table.column("seed_set"), name)).to_pylist()
        want = oracle(CITING, CITED, {p: 1 / len(members) for p in members})
        top = [p for p, s in sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))[:3] if s > 1e-9]
        assert [r["paper_id"] for r in rows][:len(top)] == top  # unreached papers (score 0) tie by id
        assert max(abs(r["score"] - want[r["paper_id"]]) for r in rows) < 1e-12
        assert [r["is_seed"] for r in rows] == [r["paper_id"] in members for r in rows]
    with pytest.raises(ValueError, match="seed set 'bad': paper 'nowhere' is not in the graph"):
        rank(pd.DataFrame({"citing": CITING, "cited": CITED}), seeds={"bad": ["nowhere"]})


def test_a_missing_column_is_one_clear_error():
    with pytest.raises(ValueError, match="missing column 'cited'"):
        rank(pd.DataFrame({"citing": CITING, "to": CITED}))


def test_run_result_gives_every_output_as_the_table_written(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": CITING, "cited": CITED})
    write_parquet(tmp_path / "s.parquet", {"seed_set": ["s"], "paper_id": ["v"]})
    result = run_job(parse_config({"input": {"citations": "c.parquet"}, "rank": {"device": "cpu"},
                                   "personalize": {"seeds": "s.parquet", "top_k": 3}, "output": {"dir": "out"}},
                                  base=tmp_path), show_progress=False)
    for name in ("papers", "personalized"):
        assert getattr(result, name).equals(pq.read_table(tmp_path / "out" / f"{name}.parquet"))
    assert result.authors is None and result.credit is None
    assert result.papers.to_pandas().shape == (6, 5)


@pytest.mark.parametrize("kw,msg", [
    ({"alpha": 1.5}, r"alpha must be a number in \(0, 1\), got 1.5"),
    ({"alpha": 1}, r"alpha must be a number in \(0, 1\), got 1"),
    ({"alpha": 0.0}, r"alpha must be a number in \(0, 1\)"),
    ({"alpha": float("nan")}, r"alpha must be a number in \(0, 1\)"),
    ({"tol": float("inf")}, r"tol must be a finite number > 0, got inf"),
    ({"tol": 0}, r"tol must be a finite number > 0"),
    ({"max_iter": -5}, r"max_iter must be an integer >= 1, got -5"),
    ({"max_iter": 2.5}, r"max_iter must be an integer >= 1"),
    ({"top_k": 0, "seeds": {"s": ["x"]}}, r"top_k must be an integer >= 1, got 0"),
    ({"method": "fast"}, r"method must be one of auto, dag, power; got 'fast'"),
    ({"ties": "first"}, r"ties must be one of ordinal, min, dense; got 'first'"),
    ({"device": "gpu"}, r"device must be one of auto, cuda, cpu; got 'gpu'"),
    ({"on_nonconvergence": "ignore"}, r"on_nonconvergence must be one of error, warn"),
    ({"seeds": ["x"]}, r"seeds must be a mapping of seed-set name to paper ids, got list"),
    ({"seeds": {}}, r"seeds is empty"),
    ({"seeds": {"s": 3.5}}, r"seed set 's': expected paper ids \(a list, or one id\), got float"),
])
def test_the_api_checks_what_it_is_given_at_its_edge(kw, msg):
    with pytest.raises(ValueError, match=msg):
        rank(pd.DataFrame({"citing": CITING, "cited": CITED}), **kw)


def test_an_empty_frame_is_one_clear_error():
    with pytest.raises(ValueError, match="no rows; there is nothing to rank"):
        rank(pd.DataFrame({"citing": pd.Series([], dtype=str), "cited": pd.Series([], dtype=str)}))


def test_an_unconverged_solve_raises_unless_asked_to_warn(caplog):
    from ranker.errors import ConvergenceError

    df = pd.DataFrame({"citing": CITING, "cited": CITED})
    with pytest.raises(ConvergenceError, match="did not converge"):  # (the exact solver needs no iteration here)
        rank(df, max_iter=1, method="power")
    got = rank(df, max_iter=1, method="power", on_nonconvergence="warn")
    assert got.num_rows == 6 and "did not converge" in caplog.text


def test_a_single_id_is_a_seed_set_of_one_and_unreachable_papers_are_not_listed():
    df = pd.DataFrame({"citing": CITING, "cited": CITED})
    one = rank(df, seeds={"s": "v"}, top_k=100)
    # from v the walk reaches u (v cites u) and nothing else: networkx gives the others 0
    want = oracle(CITING, CITED, {"v": 1.0})
    reach = {p for p, x in want.items() if x > 1e-12}
    assert set(one.column("paper_id").to_pylist()) == reach == {"u", "v"}
    assert one.column("rank").to_pylist() == [1, 2]
    for p, x in by_id(one).items():
        assert abs(x - want[p]) < 1e-12
    listed = rank(df, seeds={"s": ["v"]}, top_k=100)
    assert listed.equals(one)
    ints = rank(pa.table({"citing": [1, 2], "cited": [2, 3]}), seeds={"s": 1})
    assert sorted(ints.column("paper_id").to_pylist()) == [1, 2, 3]
    assert rank(pa.table({"citing": [1, 2], "cited": [2, 3]}), seeds={"s": 3}).column("paper_id").to_pylist() == [3]


def test_build_graph_and_the_solvers_refuse_bad_parameters():
    import torch

    from ranker import build_graph, pagerank, personalized_pagerank, uniform_teleport
    from ranker.solvers.choose import solve

    g = build_graph(torch.tensor([0, 1]), torch.tensor([1, 2]), 3)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\), got 2"):
        pagerank(g, alpha=2)
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1, got -5"):
        personalized_pagerank(g, uniform_teleport(3), max_iter=-5)
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        solve(g, uniform_teleport(3), method="dag", tol=float("inf"))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        build_graph(torch.tensor([0]), torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="duplicates must be one of once, sum; got 'add'"):
        build_graph(torch.tensor([0]), torch.tensor([0]), 1, duplicates="add")


def test_rank_with_years_equals_networkx_on_each_years_record():
    import networkx as nx
    import pandas as pd

    rng = np.random.default_rng(8)
    n = 80
    year = {f"w{i}": int(y) for i, y in enumerate(np.sort(rng.integers(2010, 2016, n)))}
    names = list(year)
    pairs = [(names[a], names[b]) for a, b in rng.integers(0, n, (400, 2))
             if year[names[b]] <= year[names[a]] or rng.random() < 0.1]
    df = pd.DataFrame(pairs, columns=["citing", "cited"])
    cited_or_citing = set(df["citing"]) | set(df["cited"])
    out = rank(df, years=pd.Series(year), top_k=1000).to_pandas()
    for cap, rows in out.groupby("year"):
        g = nx.DiGraph()
        g.add_nodes_from(p for p in cited_or_citing if year[p] <= cap)
        g.add_edges_from((a, b) for a, b in pairs if year[a] <= cap and year[b] <= cap)
        expected = nx.pagerank(g, tol=1e-15, max_iter=100_000)
        got = dict(zip(rows["paper_id"], rows["score"]))
        assert set(got) == set(expected) and sum(abs(got[k] - v) for k, v in expected.items()) < 1e-9
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
    top = rank(df, years=year, at_years=[2013], top_k=3).to_pandas()
    assert top["year"].tolist() == [2013] * 3
    with pytest.raises(ValueError, match="no year"):
        rank(df, years={k: v for k, v in list(year.items())[1:]})
    with pytest.raises(ValueError, match="a year no paper has"):
        rank(df, years=year, at_years=[1999])
    with pytest.raises(ValueError, match="cannot be combined"):
        rank(df, years=year, seeds={"s": names[0]})
