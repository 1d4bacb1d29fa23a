"""Paper and author rankers are entries of ranker.registry: a new one is one entry and its functions,
no edit elsewhere."""

import networkx as nx
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.errors import ConfigError
from ranker.registry import (
    AUTHOR_RANKERS,
    RANKERS,
    AuthorRanker,
    PaperRanker,
    function,
    get_ranker,
    register,
    register_author,
)


def cited_more_teleport(ctx, graph, dtype):
    """A toy ranker: restart at papers in proportion to 1 + their citations."""
    counts = (graph.crow[1:] - graph.crow[:-1]).to(torch.float64) + 1.0
    return (counts / counts.sum()).to(dtype).unsqueeze(1)


@pytest.fixture
def toy():
    register(PaperRanker(name="cited_more", summary="PageRank restarting at cited papers",
                         teleport=cited_more_teleport))
    yield RANKERS["cited_more"]
    del RANKERS["cited_more"]


def test_a_toy_ranker_is_one_entry(toy, tmp_path):
    citing = ["a", "a", "b", "c", "d", "e", "e"]
    cited = ["b", "c", "c", "a", "a", "a", "d"]
    write_parquet(tmp_path / "c.parquet", {"citing": citing, "cited": cited})
    cfg = parse_config({"input": {"citations": "c.parquet"}, "rank": {"algorithm": "cited_more", "tol": 1e-13,
                                                                       "device": "cpu"},
                        "output": {"dir": "out", "report": False}}, base=tmp_path)
    got = run_job(cfg, show_progress=False).papers.to_pandas().set_index("paper_id")["score"]
    g = nx.DiGraph(list(zip(citing, cited)))
    pers = {p: 1.0 + g.in_degree(p) for p in g}
    expected = nx.pagerank(g, personalization=pers, tol=1e-15, max_iter=100_000)
    assert sum(abs(got[p] - v) for p, v in expected.items()) < 1e-10
    # the configuration, trajectories' refusal and the template read the registry too
    with pytest.raises(ConfigError, match="ranks each year by pagerank, citerank"):
        parse_config({"input": {"citations": "c.parquet", "papers": "c.parquet"}, "rank": {"algorithm": "cited_more"},
                      "trajectories": {}}, base=tmp_path)
    from ranker.cli import app

    r = CliRunner().invoke(app, ["init", str(tmp_path / "job.toml")])
    assert r.exit_code == 0 and "rescaled_pagerank | cited_more" in (tmp_path / "job.toml").read_text()


def test_unknown_rankers_are_named_and_the_four_are_registered():
    assert list(RANKERS)[:4] == ["pagerank", "citerank", "articlerank", "rescaled_pagerank"]
    with pytest.raises(KeyError, match="no paper ranker 'magic'; known: pagerank"):
        get_ranker("magic")
    with pytest.raises(ConfigError, match="algorithm must be one of pagerank, citerank"):
        parse_config({"input": {"citations": "x"}, "rank": {"algorithm": "magic"}})
    assert function("ranker.solvers.paper_rankers:rescale_by_time").__name__ == "rescale_by_time"
    entries = {name: (r.needs_dates, r.distributed, r.through_time) for name, r in RANKERS.items()}
    assert entries["citerank"] == (True, False, True) and entries["pagerank"] == (False, True, True)
    assert np.all([callable(function(r.solver)) for r in RANKERS.values() if r.solver])


def most_papers(ctx, auth, weight, co_edges, facts):
    """A toy author ranker: each author's share of the authorships, counted whole."""
    counts = torch.bincount(torch.from_numpy(auth.author), minlength=len(auth.authors)).to(torch.float64)
    return counts / counts.sum()


@pytest.fixture
def toy_author():
    register_author(AuthorRanker(name="most_papers", summary="authorships counted", scores=most_papers,
                                 distributed=True))
    yield AUTHOR_RANKERS["most_papers"]
    del AUTHOR_RANKERS["most_papers"]


def test_a_toy_author_ranker_is_one_entry(toy_author, tmp_path):
    write_parquet(tmp_path / "c.parquet", {"citing": ["a", "b", "c"], "cited": ["b", "c", "a"]})
    write_parquet(tmp_path / "au.parquet", {"paper_id": ["a", "b", "c", "c", "x"],
                                            "author": ["ann", "ann", "ann", "bob", "cy"]})
    cfg = parse_config({"input": {"citations": "c.parquet", "authorships": "au.parquet"},
                        "authors": {"algorithm": "most_papers"}, "rank": {"device": "cpu"},
                        "output": {"dir": "out", "report": False}}, base=tmp_path)
    got = run_job(cfg, show_progress=False).authors.to_pandas().set_index("author")["score"]
    # "x" is no paper of the graph: its authorship is skipped, so cy has none
    assert got.to_dict() == {"ann": 0.75, "bob": 0.25}
    with pytest.raises(ConfigError, match="algorithm must be one of paper_scores, .*most_papers"):
        parse_config({"input": {"citations": "c.parquet"}, "authors": {"algorithm": "nothing"}}, base=tmp_path)


def test_the_four_author_rankers_are_registered_with_their_needs():
    assert list(AUTHOR_RANKERS)[:4] == ["paper_scores", "author_pagerank", "coauthor_pagerank", "coranking"]
    assert {r.name: r.needs for r in AUTHOR_RANKERS.values()}["coauthor_pagerank"] == "authorships or coauthorships"
    assert all(callable(function(r.scores)) for r in AUTHOR_RANKERS.values())
