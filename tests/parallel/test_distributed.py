"""Distributed ranking (ranker.distributed, ranker.distributed_job) on 2 and 3 gloo processes.

Oracle: the single-process solver on the same files (itself tested against networkx and
igraph), and networkx directly on hand-made graphs. Every comparison is by paper id, to 1e-12
in float64.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dist_harness import Ranks, die_on_call, run_once
from oracles import nx_pagerank
from ranker import parse_config, run_job
from ranker.graph_build import graph_from_edges
from ranker.io import read_citations
from ranker.solvers.power import personalized_pagerank, seed_teleport, uniform_teleport

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

TOL = 1e-13


@pytest.fixture(scope="module")
def ranks2():
    pool = Ranks(2)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def ranks3():
    pool = Ranks(3)
    yield pool
    pool.close()


@pytest.fixture(params=[2, 3], ids=["2-ranks", "3-ranks"])
def ranks(request):
    return request.getfixturevalue(f"ranks{request.param}")


def ok(results):
    """The rank-0 value of a call that must have succeeded everywhere."""
    for r, res in enumerate(results):
        assert res is not None, f"rank {r} died"
        assert res[0] == "ok", f"rank {r}: {res[1]}: {res[2]}\n{res[3]}"
    return results[0][1]


# --------------------------------------------------------------------------- run on the ranks


def _solve(read_kw: dict, seed_sets: list[list], alpha: float, tol: float):
    """On every rank: read, partition, global and personalized PageRank; rank 0 returns everything by id."""
    from ranker.parallel.comm import Comm
    from ranker.parallel.distributed_power import column_totals, partitioned_pagerank
    from ranker.parallel.ingest import read_partitioned
    from ranker.parallel.partition import PartitionedIds
    from ranker.solvers.power import seed_teleport

    comm = Comm.from_env("cpu")
    g = read_partitioned(comm=comm, **read_kw)
    teleport = torch.full((g.m, 1), 1.0 / g.n, dtype=torch.float64)
    glob = partitioned_pagerank(g, teleport, comm, alpha=alpha, tol=tol, max_iter=100_000)
    cols = {"id": g.ids, "global": glob.scores[:, 0].numpy()}
    if seed_sets:
        lookup = PartitionedIds(g, comm)
        flat = [p for s in seed_sets for p in s]
        idx = lookup.lookup(pa.array(flat, pa.large_string() if g.kind == "string" else pa.int64()))
        assert idx.null_count == 0
        set_index = np.repeat(np.arange(len(seed_sets)), [len(s) for s in seed_sets])
        weight = np.arange(1.0, len(flat) + 1.0)
        t = seed_teleport(g.n, torch.from_numpy(set_index), torch.from_numpy(idx.to_numpy()),
                          torch.from_numpy(weight), len(seed_sets), rows=(g.lo, g.hi))
        pers = partitioned_pagerank(g, t, comm, alpha=alpha, tol=tol, max_iter=100_000)
        assert torch.allclose(column_totals(g, pers.scores, comm), torch.ones(len(seed_sets), dtype=torch.float64))
        for j in range(len(seed_sets)):
            cols[f"p{j}"] = pers.scores[:, j].numpy()
    tables = comm.gather_tables(pa.table(cols))
    blocks = comm.all_gather_ints([g.m, g.nnz])
    if tables is None:
        return None
    t = pa.concat_tables(tables)
    return {"ids": t.column("id").to_pylist(), "scores": {c: t.column(c).to_numpy() for c in t.column_names[1:]},
            "bounds": g.bounds.tolist(), "blocks": blocks.tolist(), "stats": g.stats,
            "iterations": int(glob.iterations[0])}


def one_process(read_kw: dict, seed_sets: list[list], alpha: float, tol: float):
    """The same on one process with the single-process ingest and power iteration, by id."""
    kw = {k: v for k, v in read_kw.items() if k in ("weight_column", "papers", "unknown_papers")}
    edges = read_citations(read_kw["files"], **kw)
    ids = edges.ids
    g = graph_from_edges(edges, self_citations=read_kw.get("self_citations", "keep"),
                         duplicates=read_kw.get("duplicates", "once"))
    out = {"global": personalized_pagerank(g, uniform_teleport(g.n), alpha=alpha, tol=tol,
                                           max_iter=100_000).scores[:, 0].numpy()}
    if seed_sets:
        flat = [p for s in seed_sets for p in s]
        idx = ids.lookup(pa.array(flat, ids.ids.type)).to_numpy()
        set_index = np.repeat(np.arange(len(seed_sets)), [len(s) for s in seed_sets])
        t = seed_teleport(g.n, torch.from_numpy(set_index), torch.from_numpy(idx.copy()),
                          torch.arange(1.0, len(flat) + 1.0, dtype=torch.float64), len(seed_sets))
        pers = personalized_pagerank(g, t, alpha=alpha, tol=tol, max_iter=100_000).scores
        for j in range(len(seed_sets)):
            out[f"p{j}"] = pers[:, j].numpy()
    return ids.ids.to_pylist(), out, g.stats


def assert_same(dist_out, ref, atol=1e-12):
    ids, scores, _ = ref
    assert sorted(dist_out["ids"]) == sorted(ids), "the distributed graph has other papers"
    pos = {p: i for i, p in enumerate(dist_out["ids"])}
    order = np.array([pos[p] for p in ids])
    for name, want in scores.items():
        got = dist_out["scores"][name][order]
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=name)


def write_edges(path: Path, citing, cited, weight=None, row_group_size=None, kind="string"):
    cols = {"citing": pa.array(citing, pa.string() if kind == "string" else pa.int64()),
            "cited": pa.array(cited, pa.string() if kind == "string" else pa.int64())}
    if weight is not None:
        cols["weight"] = pa.array(weight, pa.float64())
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size)
    return str(path)


# --------------------------------------------------------------------------- hand-made graphs


def test_uneven_star_matches_networkx_and_one_process(ranks, tmp_path):
    """A hub cited by everyone and a long chain: blocks balance citations, not papers."""
    hub_edges = [(f"p{i:03d}", "hub") for i in range(60)]
    chain = [(f"c{i:03d}", f"c{i + 1:03d}") for i in range(59)]
    loose = [("x", "y"), ("y", "x"), ("z", "z")]  # a 2-cycle and a self-loop, disconnected
    edges = hub_edges + chain + loose
    f = write_edges(tmp_path / "c.parquet", [a for a, _ in edges], [b for _, b in edges], row_group_size=17)
    seeds = [["p000"], ["c000", "hub"], ["x"]]  # B = 3, not a power of two
    got = ok(ranks.run(_solve, {"files": [f]}, seeds, 0.85, TOL))
    ref = one_process({"files": [f]}, seeds, 0.85, TOL)
    assert_same(got, ref)
    # independent oracle: networkx on the same edges
    names = ref[0]
    at = {p: i for i, p in enumerate(names)}
    want = nx_pagerank([(at[a], at[b]) for a, b in edges], len(names))
    pos = {p: i for i, p in enumerate(got["ids"])}
    np.testing.assert_allclose(got["scores"]["global"][[pos[p] for p in names]], want, rtol=0, atol=1e-12)
    # balanced by citations + papers: no block holds more than a fair share plus one paper's cost
    papers = [b[0] for b in got["blocks"]]
    cost = [b[0] + b[1] for b in got["blocks"]]
    assert max(cost) <= (sum(cost) / ranks.world_size) + 61
    assert len(set(papers)) > 1, f"blocks should differ in paper count, got {papers}"


def test_weights_duplicates_self_loops_and_integer_ids(ranks, tmp_path):
    rng = np.random.default_rng(3)
    n, e = 40, 300
    citing, cited = rng.integers(0, n, e), rng.integers(0, n, e)
    citing[:5] = cited[:5]  # self-loops
    citing[5:15], cited[5:15] = citing[15:25], cited[15:25]  # duplicates
    weight = rng.uniform(0.0, 3.0, e)
    weight[30:40] = 0.0
    for kind, scale in (("integer", 1), ("integer", 10**12), ("string", 1)):  # dense range, hashed, strings
        a, b = citing * scale, cited * scale
        if kind == "string":
            a, b = a.astype(str), b.astype(str)
        f = write_edges(tmp_path / f"{kind}{scale}.parquet", a.tolist(), b.tolist(), weight, 37,
                        "string" if kind == "string" else "integer")
        seeds = [[a[0].item() if kind != "string" else a[0]], [b[1].item() if kind != "string" else b[1]]]
        for dup in ("once", "sum"):
            for loops in ("keep", "drop"):
                kw = {"files": [f], "weight_column": "weight", "duplicates": dup, "self_citations": loops}
                got = ok(ranks.run(_solve, kw, seeds, 0.9, TOL))
                ref = one_process(kw, seeds, 0.9, TOL)
                assert_same(got, ref)
                for key in ("self_citations", "duplicate_rows", "citations", "dangling_papers"):
                    assert got["stats"][key] == ref[2][key], key


def test_more_ranks_than_papers(ranks3, tmp_path):
    f = write_edges(tmp_path / "c.parquet", ["a"], ["b"])
    got = ok(ranks3.run(_solve, {"files": [f]}, [["a"]], 0.85, TOL))
    assert 0 in [b[0] for b in got["blocks"]]  # an empty block
    assert_same(got, one_process({"files": [f]}, [["a"]], 0.85, TOL))


def test_papers_file_unknown_papers_keep_and_drop(ranks, tmp_path):
    f = write_edges(tmp_path / "c.parquet", ["a", "b", "c", "ghost", "a"], ["b", "c", "a", "a", "ghost2"],
                    row_group_size=2)
    papers = str(tmp_path / "papers.parquet")
    pq.write_table(pa.table({"paper_id": ["c", "b", "a", "lonely"]}), papers, row_group_size=1)
    for policy in ("keep", "drop"):
        kw = {"files": [f], "papers": papers, "unknown_papers": policy}
        got = ok(ranks.run(_solve, kw, [["lonely", "a"]], 0.85, TOL))
        ref = one_process(kw, [["lonely", "a"]], 0.85, TOL)
        assert_same(got, ref)
        assert "lonely" in got["ids"] and ("ghost" in got["ids"]) == (policy == "keep")
        assert (got["stats"]["unknown_paper_rows"], got["stats"]["unknown_papers"]) == (2, 2)


# --------------------------------------------------------------------------- random graphs


@st.composite
def edge_lists(draw):
    n = draw(st.integers(1, 25))
    e = draw(st.integers(1, 70))
    citing = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    cited = draw(st.lists(st.integers(0, n - 1), min_size=e, max_size=e))
    weighted = draw(st.booleans())
    weight = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.25]), min_size=e, max_size=e)) if weighted else None
    return citing, cited, weight, draw(st.integers(1, e)), draw(st.sampled_from(["once", "sum"])), \
        draw(st.sampled_from(["keep", "drop"])), draw(st.sampled_from([2, 3]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=edge_lists())
def test_random_graphs_match_one_process(ranks2, ranks3, tmp_path, case):
    citing, cited, weight, rg, dup, loops, w = case
    f = write_edges(tmp_path / "c.parquet", [f"n{c}" for c in citing], [f"n{c}" for c in cited], weight, rg)
    kw = {"files": [f], "duplicates": dup, "self_citations": loops}
    if weight is not None:
        kw["weight_column"] = "weight"
    seeds = [[f"n{citing[0]}"], [f"n{cited[-1]}", f"n{citing[-1]}"]]
    got = ok((ranks2 if w == 2 else ranks3).run(_solve, kw, seeds, 0.85, TOL))
    assert_same(got, one_process(kw, seeds, 0.85, TOL))


def test_dictionary_ids_and_extreme_weights_give_the_single_process_graph(ranks2, tmp_path):
    """Dictionary-encoded id columns (one dictionary per column and row group) and weights near the
    float64 limits, read across two ranks: the graph and scores of one process, and of networkx."""
    rng = np.random.default_rng(4)
    citing = [f"p{i}" for i in rng.integers(0, 30, 120)]
    cited = [f"p{i}" for i in rng.integers(0, 30, 120)]
    weight = rng.choice([1e308, 1.7e308, 1e-320, 3e-300], 120)

    def chunks(values):
        return pa.chunked_array([pa.array(values[k:k + 25]).dictionary_encode() for k in range(0, 120, 25)])

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"citing": chunks(citing), "cited": chunks(cited), "weight": pa.array(weight)}), path,
                   row_group_size=25)
    kw = {"files": [str(path)], "weight_column": "weight", "duplicates": "sum"}
    seeds = [[citing[0]], [cited[5], citing[7]]]
    got = ok(ranks2.run(_solve, kw, seeds, 0.85, TOL))
    ref = one_process(kw, seeds, 0.85, TOL)
    assert_same(got, ref)
    ids, scores, _ = ref
    assert sorted(ids) == sorted(set(citing) | set(cited))
    assert np.isfinite(scores["global"]).all() and abs(scores["global"].sum() - 1) < 1e-12


# --------------------------------------------------------------------------- whole jobs


def _job(cfg_dict: dict):
    result = run_job(parse_config(cfg_dict), show_progress=False)
    return result.outputs


def _by_id(path, key="paper_id"):
    t = pq.read_table(path)
    return {r[key]: r for r in t.to_pylist()}


def _hepth_job(tmp_path: Path, name: str, hepth: Path, seeds: str) -> dict:
    return {"input": {"citations": str(hepth / "citations.parquet"), "papers": str(hepth / "papers.parquet"),
                      "authorships": str(hepth / "authorships.parquet")},
            "rank": {"tol": TOL, "method": "power"},
            "personalize": {"seeds": seeds, "top_k": 50, "batch_size": 3},
            "output": {"dir": str(tmp_path / name), "exclude_ids": ["9901001"]}}


@pytest.mark.parametrize("world_size", [2, 3])
def test_hepth_job_equals_one_process(hepth, tmp_path, world_size, request):
    ranks = request.getfixturevalue(f"ranks{world_size}")
    papers = pq.read_table(hepth / "citations.parquet").column("citing").to_pylist()
    seeds = str(tmp_path / "seeds.parquet")
    pq.write_table(pa.table({"seed_set": ["s1", "s2", "s2", "s3", "s4"],
                             "paper_id": [papers[0], papers[100], papers[2000], papers[50_000], papers[-1]],
                             "weight": [1.0, 2.0, 1.0, 1.0, 1.0]}), seeds)
    one = _job(_hepth_job(tmp_path, "one", hepth, seeds))
    many = ok(ranks.run(_job, _hepth_job(tmp_path, "many", hepth, seeds)))
    assert set(many) == set(one)
    a, b = _by_id(one["papers"]), _by_id(many["papers"])
    assert a.keys() == b.keys() and len(a) == 29555 - 1  # every row of the papers file, one excluded
    assert max(abs(a[k]["score"] - b[k]["score"]) for k in a) < 1e-12
    assert max(abs(a[k]["share"] - b[k]["share"]) for k in a) < 1e-12
    ra, rb = _by_id(one["authors"], "author"), _by_id(many["authors"], "author")
    assert ra.keys() == rb.keys() and max(abs(ra[k]["score"] - rb[k]["score"]) for k in ra) < 1e-12
    pa_, pb = pq.read_table(one["personalized"]), pq.read_table(many["personalized"])
    assert pa_.num_rows == pb.num_rows == 4 * 50
    np.testing.assert_allclose(pb.column("score").to_numpy(), pa_.column("score").to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(pb.column("share").to_numpy(), pa_.column("share").to_numpy(), rtol=0, atol=1e-12)
    # the same papers in each top 50 (scores within 1e-12 may swap places only when tied to 1e-12)
    for s in ("s1", "s2", "s3", "s4"):
        ka = pa_.filter(pa.compute.equal(pa_.column("seed_set"), s)).column("paper_id").to_pylist()
        kb = pb.filter(pa.compute.equal(pb.column("seed_set"), s)).column("paper_id").to_pylist()
        assert ka[:40] == kb[:40]
    meta = json.loads(Path(many["run"]).read_text())
    assert meta["distributed"]["world_size"] == world_size
    assert sum(meta["distributed"]["block_papers"]) == meta["papers"] == 29555
    assert sum(meta["distributed"]["block_citations"]) == meta["citations"]
    assert not (tmp_path / "many" / ".checkpoint").exists()


# --------------------------------------------------------------------------- errors


def _errors(results):
    """(class name, message) of every rank; each must have failed."""
    out = []
    for r, res in enumerate(results):
        assert res is not None, f"rank {r} died"
        assert res[0] == "error", f"rank {r} succeeded"
        out.append((res[1], res[2]))
    return out


def _expect_single_error(cfg: dict) -> str:
    with pytest.raises(Exception) as info:
        run_job(parse_config(cfg), show_progress=False)
    return str(info.value)


def test_bad_row_read_by_one_rank_stops_every_rank(ranks2, tmp_path):
    cited = ["b"] * 8
    cited[6] = None  # row 6: read by rank 1
    f = str(tmp_path / "c.parquet")
    pq.write_table(pa.table({"citing": ["a"] * 8, "cited": pa.array(cited, pa.string())}), f, row_group_size=3)
    cfg = {"input": {"citations": f}, "output": {"dir": str(tmp_path / "out")}}
    single = _expect_single_error({**cfg, "output": {"dir": str(tmp_path / "single")}})
    errs = _errors(ranks2.run(_job, cfg))
    assert errs[1] == ("InputError", single)  # the rank that read it: the single-process message
    assert errs[0] == ("InputError", f"rank 1: {single}")  # rank 0 reports it, naming the rank
    assert "column 'cited', row 6" in single
    assert not any((tmp_path / "out").glob("*.parquet")) and not (tmp_path / "out" / "run.json").exists()


def test_unknown_and_duplicate_papers_give_the_single_process_message(ranks, tmp_path):
    f = write_edges(tmp_path / "c.parquet", ["a", "b", "c", "d"], ["b", "c", "zz", "a"], row_group_size=1)
    papers = str(tmp_path / "papers.parquet")
    pq.write_table(pa.table({"paper_id": ["a", "b", "c", "d"]}), papers)
    cfg = {"input": {"citations": f, "papers": papers, "unknown_papers": "error"},
           "output": {"dir": str(tmp_path / "out")}}
    single = _expect_single_error(cfg)
    assert "row 2" in single
    assert {e for e in _errors(ranks.run(_job, cfg))} == {("InputError", single)}
    dup = str(tmp_path / "dup.parquet")
    pq.write_table(pa.table({"paper_id": ["a", "b", "zz", "c", "b", "d", "a"]}), dup, row_group_size=2)
    cfg["input"] = {"citations": f, "papers": dup}
    single = _expect_single_error(cfg)
    assert "row 4" in single
    assert {e for e in _errors(ranks.run(_job, cfg))} == {("InputError", single)}


def test_failure_after_papers_are_written_leaves_no_output(ranks2, tmp_path):
    f = write_edges(tmp_path / "c.parquet", ["a", "b"], ["b", "c"])
    seeds = str(tmp_path / "s.parquet")
    pq.write_table(pa.table({"seed_set": ["s"], "paper_id": ["nope"]}), seeds)
    out = tmp_path / "out"
    cfg = {"input": {"citations": f}, "personalize": {"seeds": seeds}, "output": {"dir": str(out)}}
    errs = _errors(ranks2.run(_job, cfg))
    assert all(kind == "InputError" and "'nope', which is not in the citation graph" in msg for kind, msg in errs)
    assert sorted(p.name for p in out.iterdir()) == []  # papers.parquet was staged, never committed


def test_unsupported_settings_say_they_need_one_process(ranks2, tmp_path):
    f = write_edges(tmp_path / "c.parquet", ["a"], ["b"])
    for extra, words in (({"rank": {"algorithm": "articlerank"}}, "[rank] algorithm = 'articlerank' needs one process"),
                         ({"credit": {"targets": f}}, "[credit] needs one process")):
        cfg = {"input": {"citations": f}, "output": {"dir": str(tmp_path / "out")}, **extra}
        errs = _errors(ranks2.run(_job, cfg))
        assert all(kind == "ConfigError" and words in msg for kind, msg in errs), errs


def test_nonconvergence_fails_on_every_rank(ranks3, tmp_path):
    f = write_edges(tmp_path / "c.parquet", ["a", "b", "c"], ["b", "a", "a"])
    cfg = {"input": {"citations": f}, "rank": {"max_iter": 2}, "output": {"dir": str(tmp_path / "out")}}
    errs = _errors(ranks3.run(_job, cfg))
    assert len({e for e in errs}) == 1 and errs[0][0] == "ConvergenceError"
    assert not (tmp_path / "out" / "papers.parquet").exists()


def _die_while_solving(cfg_dict: dict):
    """Rank 1 dies on its 3rd gather of the scores (inside the solve); rank 0 must fail cleanly."""
    from ranker.parallel.comm import Comm

    if os.environ["RANK"] == "1":
        die_on_call(Comm, "all_gather_rows", 3)
    return _job(cfg_dict)


def test_a_rank_dying_mid_run_fails_the_job_without_outputs(tmp_path):
    rng = np.random.default_rng(1)
    f = write_edges(tmp_path / "c.parquet", [f"p{i}" for i in rng.integers(0, 50, 200)],
                    [f"p{i}" for i in rng.integers(0, 50, 200)])
    out = tmp_path / "out"
    results = run_once(2, _die_while_solving, {"input": {"citations": f}, "output": {"dir": str(out)}})
    assert results[1] is None  # it died
    assert results[0][0] == "error" and results[0][1] == "DistributedError", results[0]
    assert "rank 0: lost contact with another rank during solve" in results[0][2]
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- the command line under torchrun


def _torchrun(n: int, config: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
           "-m", "ranker.cli", "--config", str(config), "--no-progress"]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_torchrun_cli_same_outputs_and_clean_failure(tmp_path):
    rng = np.random.default_rng(5)
    citing, cited = rng.integers(0, 300, 2000), rng.integers(0, 300, 2000)
    write_edges(tmp_path / "c.parquet", citing.tolist(), cited.tolist(), row_group_size=333, kind="integer")
    pq.write_table(pa.table({"seed_set": ["a", "b"], "paper_id": [int(citing[0]), int(cited[3])]}),
                   tmp_path / "s.parquet")
    body = ('[input]\ncitations = "c.parquet"\n[rank]\ntol = 1e-13\nmethod = "power"\n'
            '[personalize]\nseeds = "s.parquet"\ntop_k = 10\n')
    (tmp_path / "one.toml").write_text(body + '[output]\ndir = "one"\n')
    (tmp_path / "two.toml").write_text(body + '[output]\ndir = "two"\n')
    single = subprocess.run([sys.executable, "-m", "ranker.cli", "--config", "one.toml", "--no-progress"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    two = _torchrun(2, tmp_path / "two.toml", tmp_path)
    assert two.returncode == 0, two.stderr
    a, b = _by_id(tmp_path / "one" / "papers.parquet"), _by_id(tmp_path / "two" / "papers.parquet")
    assert a.keys() == b.keys() and max(abs(a[k]["score"] - b[k]["score"]) for k in a) < 1e-12
    assert "distributed: rank 0 of 2, gloo backend" in two.stderr

    # a null id in the rows rank 1 reads: exit non-zero, one line from rank 0 naming file, column and row
    bad = pq.read_table(tmp_path / "c.parquet")
    cited_bad = bad.column("cited").to_pylist()
    cited_bad[1500] = None
    pq.write_table(bad.set_column(1, "cited", pa.array(cited_bad, pa.int64())), tmp_path / "c.parquet",
                   row_group_size=333)
    (tmp_path / "bad.toml").write_text(body + '[output]\ndir = "bad"\n')
    failed = _torchrun(2, tmp_path / "bad.toml", tmp_path)
    assert failed.returncode != 0
    lines = [ln for ln in failed.stderr.splitlines() if ln.startswith("error:")]
    want = f"error: rank 1: {tmp_path / 'c.parquet'}, column 'cited', row 1500: null id (or an empty cell)"
    assert lines == [want], failed.stderr
    assert not any((tmp_path / "bad").glob("*.parquet"))


def _stop_after_two_batches(cfg_dict: dict):
    """Rank 0 dies while solving its third personalized batch (after the global solve and two batches)."""
    import ranker.parallel.distributed_power as solver

    if os.environ["RANK"] == "0":
        die_on_call(solver, "partitioned_pagerank", 4, code=9)
    return _job(cfg_dict)


def test_personalized_batches_resume_after_a_rank_dies(ranks2, tmp_path):
    rng = np.random.default_rng(8)
    citing, cited = rng.integers(0, 80, 400), rng.integers(0, 80, 400)
    f = write_edges(tmp_path / "c.parquet", citing.tolist(), cited.tolist(), kind="integer")
    seeds = str(tmp_path / "s.parquet")
    pq.write_table(pa.table({"seed_set": [f"s{j}" for j in range(5)], "paper_id": citing[:5].tolist()}), seeds)
    cfg = {"input": {"citations": f}, "personalize": {"seeds": seeds, "batch_size": 1, "top_k": 7},
           "output": {"dir": str(tmp_path / "out")}}
    died = run_once(2, _stop_after_two_batches, cfg)
    assert died[0] is None and died[1][1] == "DistributedError"
    out = tmp_path / "out"
    # finished batches only, nothing under a final name (a killed rank 0 may leave a temp file); it leaves
    # its checkpoints and the lock file (the kernel released the lock itself)
    left = sorted(p.name for p in out.iterdir() if not p.name.endswith(".rank-citations.tmp"))
    assert left == [".checkpoint", ".rank-citations.lock"]
    again = ok(ranks2.run(_job, cfg))
    assert not list(out.glob("*.rank-citations.tmp"))
    meta = json.loads(Path(again["run"]).read_text())
    assert meta["personalized"]["resumed_batches"] == 2
    fresh = ok(ranks2.run(_job, {**cfg, "output": {"dir": str(tmp_path / "fresh")}}))
    assert pq.read_table(again["personalized"]).equals(pq.read_table(fresh["personalized"]))
    assert not (out / ".checkpoint").exists()


def test_torchrun_rank_dying_mid_solve_exits_non_zero_without_outputs(tmp_path):
    rng = np.random.default_rng(2)
    write_edges(tmp_path / "c.parquet", rng.integers(0, 300, 2000).tolist(), rng.integers(0, 300, 2000).tolist(),
                kind="integer")
    (tmp_path / "job.toml").write_text('[input]\ncitations = "c.parquet"\n[output]\ndir = "out"\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(Path(__file__).resolve().parents[1] / "kill_rank1_cli.py"), "--config", "job.toml", "--no-progress"]
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    # rank 0 either notices the lost peer or is stopped by torchrun; either way it says so on one line
    assert ("error: rank 0: lost contact with another rank during solve" in run.stderr
            or "error: interrupted" in run.stderr), run.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == []
