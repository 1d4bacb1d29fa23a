"""Credit for an idea, author PageRank and coauthor PageRank against networkx constructions."""

import networkx as nx
import numpy as np
import pyarrow.parquet as pq
import pytest

from oracles import write_parquet
from ranker import parse_config, run_job

CIT = [("t", "a"), ("t", "b"), ("a", "c"), ("b", "c"), ("u", "t"), ("d", "e"), ("b", "b")]
AUTH = [("t", "x", 0), ("t", "y", 1), ("a", "y", 0), ("b", "z", 0), ("c", "w", 0), ("c", "z", 1),
        ("d", "v", 0), ("e", "v", 0), ("u", "x", 0)]


def make(tmp_path, authors=None, credit=True, exclude=()):
    write_parquet(tmp_path / "c.parquet", {"citing": [a for a, _ in CIT], "cited": [b for _, b in CIT]})
    write_parquet(tmp_path / "a.parquet", {"paper_id": [r[0] for r in AUTH], "author": [r[1] for r in AUTH],
                                           "position": [r[2] for r in AUTH]})
    write_parquet(tmp_path / "targets.parquet", {"target": ["t", "u", "d"]})
    job = {"input": {"citations": "c.parquet", "authorships": "a.parquet"},
           "rank": {"tol": 1e-14, "device": "cpu"}, "authors": authors or {},
           "output": {"dir": "out", "exclude_ids": list(exclude)}}
    if credit:
        job["credit"] = {"targets": "targets.parquet", "top_k": 10}
    return run_job(parse_config(job, base=tmp_path), show_progress=False)


def nx_graph():
    g = nx.DiGraph()
    g.add_nodes_from({p for e in CIT for p in e})
    g.add_edges_from(CIT)
    return g


def test_credit_matches_networkx_and_stays_among_ancestors(tmp_path):
    make(tmp_path)
    credit = pq.read_table(tmp_path / "out" / "credit.parquet").to_pylist()
    g = nx_graph()
    for target in ("t", "u", "d"):
        pr = nx.pagerank(g, alpha=0.85, personalization={target: 1.0}, tol=1e-15, max_iter=10_000)
        pr.pop(target)
        total = sum(pr.values())
        rows = [r for r in credit if r["target"] == target and r["kind"] == "paper"]
        assert {r["credited"] for r in rows} <= nx.descendants(g, target)  # only what it builds on
        assert abs(sum(r["share"] for r in rows) - 1) < 1e-12
        for r in rows:
            assert abs(r["share"] - pr[r["credited"]] / total) < 1e-9
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    # u builds on t, which builds on a, b, c: the bridge t earns the most of u's credit
    u_rows = [r for r in credit if r["target"] == "u" and r["kind"] == "paper"]
    assert u_rows[0]["credited"] == "t"


def test_author_credit_follows_paper_credit(tmp_path):
    make(tmp_path, authors={"counting": "fractional"})
    credit = pq.read_table(tmp_path / "out" / "credit.parquet").to_pylist()
    paper = {r["credited"]: r["share"] for r in credit if r["target"] == "t" and r["kind"] == "paper"}
    author = {r["credited"]: r["share"] for r in credit if r["target"] == "t" and r["kind"] == "author"}
    want = {"y": paper["a"], "z": paper["b"] + paper["c"] / 2, "w": paper["c"] / 2}
    assert set(author) == set(want)
    for k, v in want.items():
        assert abs(author[k] - v) < 1e-12


def test_excluded_papers_get_no_credit(tmp_path):
    make(tmp_path, exclude=["a"])
    credit = pq.read_table(tmp_path / "out" / "credit.parquet").to_pylist()
    rows = [r for r in credit if r["target"] == "t" and r["kind"] == "paper"]
    assert "a" not in {r["credited"] for r in rows} and abs(sum(r["share"] for r in rows) - 1) < 1e-12


def _author_graph_oracle(rule):
    # explicit construction: for each citation p -> q, each author A of p cites each author B of q
    from ranker.solvers.author_rankers import counting_weights

    papers = sorted({r[0] for r in AUTH})
    pi = {p: i for i, p in enumerate(papers)}
    w = counting_weights(np.array([pi[r[0]] for r in AUTH]), np.array([r[2] for r in AUTH]), rule)
    credit = {}
    for (p, a, _), x in zip(AUTH, w):
        credit.setdefault(p, []).append((a, x))
    g = nx.MultiDiGraph()
    g.add_nodes_from({r[1] for r in AUTH})
    for p, q in CIT:
        for a, xa in credit.get(p, []):
            for b, xb in credit.get(q, []):
                g.add_edge(a, b, weight=xa * xb)
    return nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-15, max_iter=10_000)


@pytest.mark.parametrize("rule", ["fractional", "full", "harmonic"])
def test_author_pagerank_matches_networkx(tmp_path, rule):
    make(tmp_path, authors={"algorithm": "author_pagerank", "counting": rule}, credit=False)
    got = {r["author"]: r["score"] for r in pq.read_table(tmp_path / "out" / "authors.parquet").to_pylist()}
    want = _author_graph_oracle(rule)
    assert set(got) == set(want)
    for k in want:
        assert abs(got[k] - want[k]) < 1e-12


@pytest.mark.parametrize("weight", ["joint_papers", "fractional"])
def test_coauthor_pagerank_matches_networkx(tmp_path, weight):
    make(tmp_path, authors={"algorithm": "coauthor_pagerank", "coauthor_weight": weight}, credit=False)
    got = {r["author"]: r["score"] for r in pq.read_table(tmp_path / "out" / "authors.parquet").to_pylist()}
    by_paper = {}
    for p, a, _ in AUTH:
        by_paper.setdefault(p, []).append(a)
    g = nx.Graph()
    g.add_nodes_from({r[1] for r in AUTH})
    for names in by_paper.values():
        k = len(names)
        for i in range(k):
            for j in range(i + 1, k):
                add = 1.0 if weight == "joint_papers" else 1.0 / (k - 1)
                old = g.get_edge_data(names[i], names[j], {"weight": 0.0})["weight"]
                g.add_edge(names[i], names[j], weight=old + add)
    want = nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-15, max_iter=10_000)
    for k in want:
        assert abs(got[k] - want[k]) < 1e-12


def test_credit_errors(tmp_path):
    make(tmp_path, credit=False)
    write_parquet(tmp_path / "bad.parquet", {"target": ["t", "nope"]})
    job = {"input": {"citations": "c.parquet"}, "credit": {"targets": "bad.parquet"}, "output": {"dir": "o"}}
    from ranker.errors import InputError

    with pytest.raises(InputError, match=r"bad.parquet, column 'target', row 1: target 'nope' is not a paper"):
        run_job(parse_config(job, base=tmp_path), show_progress=False)


@pytest.mark.parametrize("jump", [0.05, 0.2, 0.7])
def test_coranking_matches_dense_joint_chain(tmp_path, jump):
    make(tmp_path, authors={"algorithm": "coranking", "jump": jump}, credit=False)
    got_a = {r["author"]: r["score"] for r in pq.read_table(tmp_path / "out" / "authors.parquet").to_pylist()}
    got_p = {r["paper_id"]: r["score"] for r in
             pq.read_table(tmp_path / "out" / "coranking_papers.parquet").to_pylist()}
    # the joint chain written out as one dense column-stochastic matrix, solved by eigenvector
    papers = sorted({p for e in CIT for p in e})
    authors = sorted({r[1] for r in AUTH})
    n_p, n_a, a = len(papers), len(authors), 0.85
    pi = {p: i for i, p in enumerate(papers)}
    ai = {x: n_p + i for i, x in enumerate(authors)}

    def google(nodes, edges):
        n = len(nodes)
        m = np.zeros((n, n))
        out = {}
        for u, v in edges:
            out.setdefault(u, set()).add(v)
        for u in range(n):
            if out.get(u):
                for v in out[u]:
                    m[v, u] += a / len(out[u])
                m[:, u] += (1 - a) / n
            else:
                m[:, u] += 1.0 / n
        return m

    gd = google(papers, {(pi[u], pi[v]) for u, v in CIT})
    co = set()
    by_paper = {}
    for p, x, _ in AUTH:
        by_paper.setdefault(p, []).append(x)
    for names in by_paper.values():
        for u in names:
            for v in names:
                if u != v:
                    co.add((ai[u] - n_p, ai[v] - n_p))
    ga = google(authors, co)
    links = {(pi[p], ai[x]) for p, x, _ in AUTH if p in pi}
    m = np.zeros((n_p + n_a, n_p + n_a))
    deg = {}
    for u, v in links:
        deg[u] = deg.get(u, 0) + 1
        deg[v] = deg.get(v, 0) + 1
    lam = np.array([jump if deg.get(i) else 0.0 for i in range(n_p + n_a)])
    m[:n_p, :n_p] = gd * (1 - lam[:n_p])
    m[n_p:, n_p:] = ga * (1 - lam[n_p:])
    for u, v in links:
        m[v, u] += lam[u] / deg[u]
        m[u, v] += lam[v] / deg[v]
    np.testing.assert_allclose(m.sum(0), 1.0)
    w, vecs = np.linalg.eig(m)
    x = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    x /= x.sum()
    for p in papers:
        assert abs(got_p[p] - x[pi[p]]) < 1e-9
    for name in authors:
        assert abs(got_a[name] - x[ai[name]]) < 1e-9


def test_coauthor_pagerank_from_a_coauthorships_file(tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": ["p"], "cited": ["q"]})
    pairs = [("ann", "bob", 2.0), ("bob", "cat", 1.0), ("cat", "ann", 0.5), ("dan", "dan", 3.0), ("bob", "ann", 1.0)]
    write_parquet(tmp_path / "co.parquet", {"author_a": [p[0] for p in pairs], "author_b": [p[1] for p in pairs],
                                            "weight": [p[2] for p in pairs]})
    job = {"input": {"citations": "c.parquet", "coauthorships": "co.parquet"}, "rank": {"tol": 1e-14},
           "authors": {"algorithm": "coauthor_pagerank"}, "output": {"dir": "out"}}
    run_job(parse_config(job, base=tmp_path), show_progress=False)
    got = {r["author"]: r for r in pq.read_table(tmp_path / "out" / "authors.parquet").to_pylist()}
    g = nx.Graph()
    g.add_nodes_from(["ann", "bob", "cat", "dan"])  # dan only coauthors with himself: isolated
    for a, b, w in pairs:
        if a != b:
            g.add_edge(a, b, weight=g.get_edge_data(a, b, {"weight": 0.0})["weight"] + w)
    want = nx.pagerank(g, weight="weight", tol=1e-15, max_iter=10_000)
    for k in want:
        assert abs(got[k]["score"] - want[k]) < 1e-12
    assert got["ann"]["papers"] == 0  # no authorships given


def test_author_targets(tmp_path):
    make(tmp_path, authors={"counting": "fractional"})
    write_parquet(tmp_path / "targets.parquet", {"target": ["x", "t"], "kind": ["author", "paper"]})
    job = {"input": {"citations": "c.parquet", "authorships": "a.parquet"}, "rank": {"tol": 1e-14},
           "credit": {"targets": "targets.parquet"}, "output": {"dir": "out2"}}
    run_job(parse_config(job, base=tmp_path), show_progress=False)
    rows = pq.read_table(tmp_path / "out2" / "credit.parquet").to_pylist()
    # author x wrote t and u (fractional: 1/2 of t, all of u): the walk restarts there
    g = nx_graph()
    pers = {"t": 0.5 / 1.5, "u": 1.0 / 1.5}
    pr = nx.pagerank(g, alpha=0.85, personalization=pers, tol=1e-15, max_iter=10_000)
    for own in ("t", "u"):
        pr.pop(own)
    total = sum(pr.values())
    papers = {r["credited"]: r["share"] for r in rows if r["target"] == "x" and r["kind"] == "paper"}
    assert set(papers) <= {"a", "b", "c"}
    for k, v in papers.items():
        assert abs(v - pr[k] / total) < 1e-9
    authors = {r["credited"] for r in rows if r["target"] == "x" and r["kind"] == "author"}
    assert "x" not in authors and authors <= {"y", "z", "w"}
    assert {r["target_kind"] for r in rows} == {"author", "paper"}
