"""The real arXiv hep-th graph (../shared/data/hepth), against igraph's PRPACK."""

import igraph
import numpy as np
import pyarrow.parquet as pq

from ranker import parse_config, run_job


def test_hepth_global_pagerank_matches_igraph(hepth, tmp_path):
    cfg = parse_config({"input": {"citations": str(hepth / "citations.parquet"),
                                  "papers": str(hepth / "papers.parquet")},
                        "rank": {"device": "cpu", "tol": 1e-13},
                        "output": {"dir": str(tmp_path)}})
    res = run_job(cfg, show_progress=False)
    assert res.graph.n == 29_555  # every paper with metadata, cited or not
    assert res.graph.stats["self_citations"] == 39
    g = res.graph
    rows = g.row_index().long().numpy()
    cols = g.col.long().numpy()
    ig = igraph.Graph(n=g.n, edges=np.stack([cols, rows], 1).tolist(), directed=True)
    ref = np.array(ig.pagerank(damping=0.85, directed=True, implementation="prpack"))
    ours = res.global_result.scores[:, 0].numpy()
    assert np.abs(ours - ref).sum() < 1e-10

    # the output file agrees, ids stay strings with leading zeros
    t = pq.read_table(tmp_path / "papers.parquet")
    by_id = dict(zip(t.column("paper_id").to_pylist(), t.column("score").to_pylist()))
    ids = res.ids.ids.to_pylist()
    assert "0001001" in by_id
    assert max(abs(by_id[ids[i]] - ref[i]) for i in range(0, g.n, 97)) < 1e-11


def test_hepth_edge_list_independent_of_ours(hepth):
    # the graph our ingest builds equals one built straight from the parquet with igraph
    from ranker.io import read_citations
    from ranker.io.listing import citation_files

    e = read_citations(citation_files(str(hepth / "citations.parquet")))
    raw = pq.read_table(hepth / "citations.parquet")
    ids = e.ids.ids.to_pylist()
    assert [ids[i] for i in e.citing[:1000]] == raw.column("citing").to_pylist()[:1000]
    assert [ids[i] for i in e.cited[-1000:]] == raw.column("cited").to_pylist()[-1000:]
    assert len(ids) == 27_770


def test_hepth_authors_citerank_and_rescaled(hepth, tmp_path):
    def job(out, **rank):
        cfg = parse_config({"input": {"citations": str(hepth / "citations.parquet"),
                                      "papers": str(hepth / "papers.parquet"),
                                      "authorships": str(hepth / "authorships.parquet")},
                            "rank": {"device": "cpu", "tol": 1e-12, **rank}, "authors": {"counting": "harmonic"},
                            "output": {"dir": str(tmp_path / out)}})
        return run_job(cfg, show_progress=False)

    plain = job("plain")
    authors = pq.read_table(tmp_path / "plain" / "authors.parquet")
    assert abs(sum(authors.column("share").to_pylist()) - 1) < 1e-9
    # harmonic counting conserves mass: authors hold the score of every paper that has authors
    papers = pq.read_table(tmp_path / "plain" / "papers.parquet")
    auth = pq.read_table(hepth / "authorships.parquet")
    with_authors = set(auth.column("paper_id").to_pylist())
    covered = sum(s for p, s in zip(papers.column("paper_id").to_pylist(), papers.column("score").to_pylist())
                  if p in with_authors)
    assert abs(sum(authors.column("score").to_pylist()) - covered) < 1e-9
    assert plain.metadata["authors"]["authors"] > 10_000

    job("rescaled", algorithm="rescaled_pagerank", window=1000)
    meta = pq.read_table(hepth / "papers.parquet", columns=["paper_id", "year"])
    year = dict(zip(meta.column("paper_id").to_pylist(), meta.column("year").to_pylist()))

    def mean_top_year(path):
        ids = pq.read_table(path).column("paper_id").to_pylist()[:100]
        return np.mean([year[i] for i in ids])

    # plain PageRank favours the earliest papers; rescaling by age removes that bias
    plain_year = mean_top_year(tmp_path / "plain" / "papers.parquet")
    assert mean_top_year(tmp_path / "rescaled" / "papers.parquet") > plain_year + 2

    cr = job("citerank", algorithm="citerank", tau=2.6)
    assert cr.metadata["global"]["converged"]
    assert mean_top_year(tmp_path / "citerank" / "papers.parquet") > plain_year


def test_hepth_trajectories_equal_igraph_on_each_years_induced_subgraph(hepth, tmp_path):
    """hep-th by year: 28% of its papers lie on cycles (revised preprints cite newer papers)."""
    cfg = parse_config({"input": {"citations": str(hepth / "citations.parquet"),
                                  "papers": str(hepth / "papers.parquet")},
                        "rank": {"device": "cpu", "tol": 1e-13},
                        "trajectories": {"years": [1995, 1999, 2003], "top_k": 0},
                        "output": {"dir": str(tmp_path), "report": False}})
    res = run_job(cfg, show_progress=False)
    t = res.trajectories.to_pandas()
    papers = pq.read_table(hepth / "papers.parquet", columns=["paper_id", "year"]).to_pandas()
    year_of = dict(zip(papers["paper_id"], papers["year"]))
    cites = pq.read_table(hepth / "citations.parquet").to_pandas()
    for cap in (1995, 1999, 2003):
        alive = [p for p in res.ids.ids.to_pylist() if year_of[p] <= cap]
        index = {p: i for i, p in enumerate(alive)}
        keep = cites["citing"].map(index).notna() & cites["cited"].map(index).notna()
        edges = sorted(set(zip(cites["citing"][keep].map(index), cites["cited"][keep].map(index))))
        ig = igraph.Graph(n=len(alive), edges=edges, directed=True)
        ref = np.array(ig.pagerank(damping=0.85, directed=True, implementation="prpack"))
        rows = t[t["year"] == cap]
        assert len(rows) == len(alive)
        got = rows.set_index("paper_id")["score"][alive].to_numpy()
        assert np.abs(got - ref).sum() < 1e-9, cap
