"""rank-citations: PageRank-family ranking of large citation graphs on GPU or CPU.

Python API (the CLI is a thin layer over it)::

    from ranker import load_config, run_job
    result = run_job(load_config("configs/demo.toml"))

    from ranker import build_graph, pagerank, personalized_pagerank
    graph = build_graph(citing, cited, n)          # dense indices 0..n-1
    scores = pagerank(graph, alpha=0.85).scores    # [n, 1]
"""

__version__ = "0.1.0"

from .config import JobConfig, load_config, parse_config  # noqa: E402
from .errors import ConfigError, ConvergenceError, GraphError, InputError, RankerError  # noqa: E402
from .graph import CitationGraph, build_graph  # noqa: E402
from .pagerank import PageRankResult, pagerank, personalized_pagerank, seed_teleport, uniform_teleport  # noqa: E402
from .pipeline import RunResult, run_job  # noqa: E402

__all__ = [
    "__version__", "JobConfig", "load_config", "parse_config", "RankerError", "ConfigError", "InputError",
    "GraphError", "ConvergenceError", "CitationGraph", "build_graph", "PageRankResult", "pagerank",
    "personalized_pagerank", "seed_teleport", "uniform_teleport", "RunResult", "run_job",
]
