"""rank-citations: PageRank-family ranking of large citation graphs on GPU or CPU.

Python API (the CLI is a thin layer over it)::

    from ranker import load_config, run_job, rank
    result = run_job(load_config("configs/demo.toml"))
    result.papers.to_pandas()                      # every output as an Arrow table
    table = rank(df, citing="citing", cited="cited")  # a DataFrame of citations in, ranked papers out

    from ranker import build_graph, pagerank, personalized_pagerank
    graph = build_graph(citing, cited, n)          # dense indices 0..n-1
    scores = pagerank(graph, alpha=0.85).scores    # [n, 1]

Names are imported on first use, so ``import ranker.cli`` (the command's start-up) does not
pay for torch.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "JobConfig": "config", "load_config": "config", "parse_config": "config",
    "RankerError": "errors", "ConfigError": "errors", "InputError": "errors", "GraphError": "errors",
    "ConvergenceError": "errors", "OutputError": "errors",
    "CitationGraph": "graph", "build_graph": "graph_build",
    "PageRankResult": "solvers.iteration", "pagerank": "solvers.power", "personalized_pagerank": "solvers.power",
    "seed_teleport": "solvers.power", "uniform_teleport": "solvers.power",
    "RunResult": "job", "run_job": "job",
    "Renumbered": "dense_ids", "renumber": "dense_ids", "rank": "frames",
    "snapshot_pagerank": "solvers.snapshots", "snapshot_teleport": "solvers.snapshots",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ranker' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
