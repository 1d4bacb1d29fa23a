"""Paper rankers are entries of ranker.registry: a new one is one entry and its functions, no edit elsewhere."""

import networkx as nx
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from oracles import write_parquet
from ranker import parse_config, run_job
from ranker.errors import ConfigError
from ranker.registry import RANKERS, PaperRanker, function, get_ranker, register


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
