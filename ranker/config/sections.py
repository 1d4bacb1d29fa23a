"""The job file's sections: every key, its default, its one-line meaning and its choices, once.

The parser (:mod:`ranker.config.parse`), the reference in ``docs/job-file.md`` and the template
``rank-citations init`` writes (:mod:`ranker.config.reference`) all read these classes: a default
or a choice is written here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..choices import COUNTING, METHODS
from ..registry import AUTHOR_RANKERS, RANKERS


def key(default: Any, doc: str = "", *, init: str = "", example: Any = None, shown: str = "") -> Any:
    """A key of the job file: its ``default`` and one line of ``doc``.

    ``init`` is how ``rank-citations init``'s template shows it: ``"on"`` (set), ``"off"``
    (commented out) or ``""`` (left out); ``example`` is the value the template shows instead of
    the default; ``shown`` is the TOML text of a default the type cannot spell (``"all"``).
    """
    return field(default=default, metadata={"doc": doc, "init": init, "example": example, "shown": shown})


@dataclass(frozen=True)
class SyntheticConfig:
    """Optional, instead of citations/papers: generate a graph (the demo)."""

    papers: int = key(20_000, "papers in time order")
    mean_references: float = key(10.0, "references per paper, on average")
    seed: int = key(0, "random seed: the same seed gives the same files")
    seed_sets: int = key(8, "reading lists written to <dir>/seeds.parquet")
    dir: str = key("", "default: <output.dir>/data; reused when its manifest matches")


@dataclass(frozen=True)
class InputConfig:
    """The citations, and optionally the papers, authorships and coauthorships."""

    citations: str = key("", "a file, a folder or a glob: parquet, CSV, TSV or JSON Lines (gzipped or not)",
                         init="on", example="citations.parquet")
    format: str = key("auto", "citation files; auto: by name, else by content")
    citing_column: str = key("citing", 'the citing paper (OpenAlex works: "id")', init="on")
    cited_column: str = key("cited", 'the cited paper (OpenAlex works: "referenced_works"; a list column is '
                            "exploded)", init="on")
    weight_column: str = key("", "optional; empty: every citation weighs 1 (booleans read as 0/1; Semantic "
                             'Scholar: "isinfluential")', init="off", example="weight")
    weight_offset: float = key(0.0, "added to every weight: 1.0 with isinfluential gives 1 + isinfluential",
                               init="off", example=1.0)
    compact_ids: bool = key(True, "string ids that are one prefix and digits are held as integers, written "
                            "back unchanged")
    papers: str = key("", "optional parquet of every paper (paper_id), with year/date/title shown beside the "
                      "scores", init="off", example="papers.parquet")
    paper_id_column: str = key("paper_id", "the id column of `papers`")
    self_citations: str = key("keep", "a paper citing itself")
    duplicates: str = key("once", "the same citation twice: counted once, or its weights summed")
    unknown_papers: str = key("keep", "citations naming papers absent from `papers`", init="off")
    batch_rows: int = key(1_000_000, "rows per record batch while streaming")
    date_column: str = key("date", "in `papers`: publication date (citerank, rescaled_pagerank)")
    year_column: str = key("year", "in `papers`: used where the date is missing")
    title_column: str = key("title", "in `papers`: shown beside the scores (OpenAlex: display_name)")
    authorships: str = key("", "optional parquet: paper_id, author, optional position (0 = first author)",
                           init="off", example="authorships.parquet")
    authorship_paper_column: str = key("paper_id", "the paper column of `authorships`")
    author_column: str = key("author", "the author column of `authorships`")
    position_column: str = key("position", "the position column of `authorships` (optional)")
    coauthorships: str = key("", "optional parquet: author_a, author_b, optional weight (the coauthor graph)")
    synthetic: SyntheticConfig | None = None


@dataclass(frozen=True)
class RankConfig:
    """How papers are ranked."""

    alpha: float = key(0.85, "probability of following a citation, in (0, 1)", init="on")
    tol: float = key(1e-10, "stop a column when its L1 change is below tol (> 0)", init="on")
    max_iter: int = key(1000, "iterations at most (>= 1)")
    device: str = key("auto", "auto: CUDA when available, else the CPU", init="on")
    dtype: str = key("float64", "of the scores (residuals are always summed in float64)")
    on_nonconvergence: str = key("error", "a column that has not converged after max_iter")
    index_dtype: str = key("auto", "auto: int32 while it fits")
    method: str = key("auto", "auto: dag unless one component holds over half the papers (docs/solvers.md)")
    kernel: str = key("torch", "triton: the fused Triton step of the power method (CUDA)")
    algorithm: str = key("pagerank", "a registered paper ranker (ranker.registry)", init="off")
    tau: float = key(2.6, "citerank: decay time in years (> 0)")
    reference_date: str = key("", "citerank: ISO date ages are measured at; default the newest paper's")
    window: int = key(1000, "rescaled_pagerank: papers per time window (>= 2)")


@dataclass(frozen=True)
class PersonalizeConfig:
    """Optional: batched personalized PageRank, one column per seed set."""

    seeds: str = key("", "seed_set, paper_id, optional weight (>= 0)", init="off", example="seeds.parquet")
    seed_set_column: str = key("seed_set", "the set column of `seeds`")
    paper_id_column: str = key("paper_id", "the paper column of `seeds`")
    weight_column: str = key("", 'default: "weight" when the file has it, else every seed weighs 1')
    top_k: int = key(100, "papers kept per seed set (>= 1)", init="off")
    batch_size: int = key(0, "seed sets solved together; 0 = sized from free memory")
    exclude_seeds: bool = key(False, "leave each set's own seeds out of its list (and of its shares)", init="off")


@dataclass(frozen=True)
class AuthorsConfig:
    """Author credit; used when [input] authorships is given."""

    algorithm: str = key("paper_scores", "how authors are ranked (docs/rankers.md)")
    jump: float = key(0.2, "coranking: probability of crossing between papers and authors per step")
    counting: str = key("fractional", "an author's share of a paper")
    coauthor_weight: str = key("joint_papers", "coauthor_pagerank: the weight of a coauthor pair")


@dataclass(frozen=True)
class CreditConfig:
    """Optional: who a target paper's impact is owed to."""

    targets: str = key("", "parquet of target papers (optional column kind = paper | author)", init="off",
                       example="targets.parquet")
    target_column: str = key("target", "the id column of `targets`")
    top_k: int = key(100, "ancestors kept per target (>= 1)")


@dataclass(frozen=True)
class TrajectoriesConfig:
    """Optional: every year's ranking in one solve (needs papers with a year)."""

    years: tuple = key((), 'the records\' last years: "all", or a list such as [1995, 2000, 2005]', init="off",
                       shown='"all"')
    top_k: int = key(100, "papers per year in trajectories.parquet; 0 keeps every paper of the record", init="off")
    batch_size: int = key(0, "years solved together; 0 = sized from free memory")


@dataclass(frozen=True)
class OutputConfig:
    """Where the outputs go and what they hold."""

    dir: str = key("out", "papers.parquet, run.json (and personalized/trajectories/authors/credit)", init="on")
    exclude_ids: tuple = key((), "paper or author ids left out of every output; shares renormalized")
    ties: str = key("ordinal", "rank of equal scores: 1, 2, 3 | 1, 1, 3 | 1, 1, 2", init="off")
    normalize_by: tuple = key((), 'percentiles within groups: ["year"], ["year", "<papers-file column>"]',
                              init="off", example=("year",))
    report: bool = key(True, "report.html beside the outputs")


@dataclass(frozen=True)
class JobConfig:
    """A validated job (:func:`ranker.config.load_config`)."""

    input: InputConfig
    rank: RankConfig = field(default_factory=RankConfig)
    personalize: PersonalizeConfig | None = None
    output: OutputConfig = field(default_factory=OutputConfig)
    authors: AuthorsConfig = field(default_factory=AuthorsConfig)
    credit: CreditConfig | None = None
    trajectories: TrajectoriesConfig | None = None
    source: str = "<dict>"  # the job file, for messages

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration, as recorded in run.json."""
        return dataclasses.asdict(self)


#: The sections in the order the job file and its reference list them; True where optional.
SECTIONS: dict[str, tuple[type, bool]] = {
    "input": (InputConfig, False), "input.synthetic": (SyntheticConfig, True), "rank": (RankConfig, False),
    "personalize": (PersonalizeConfig, True), "authors": (AuthorsConfig, False), "credit": (CreditConfig, True),
    "trajectories": (TrajectoriesConfig, True), "output": (OutputConfig, False),
}

#: The choices of the job file's keys, each defined once (the API and the CLI take them from here).
DEVICES = ("auto", "cuda", "cpu")
TIES = ("ordinal", "min", "dense")
FORMATS = ("auto", "parquet", "csv", "tsv", "jsonl")

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("input", "self_citations"): ("keep", "drop"),
    ("input", "duplicates"): ("once", "sum"),
    ("input", "unknown_papers"): ("keep", "drop", "error"),
    ("input", "format"): FORMATS,
    ("output", "ties"): TIES,
    ("rank", "device"): DEVICES,
    ("rank", "dtype"): ("float64", "float32"),
    ("rank", "on_nonconvergence"): ("error", "warn"),
    ("rank", "index_dtype"): ("auto", "int32", "int64"),
    ("rank", "method"): METHODS,
    ("rank", "kernel"): ("torch", "triton"),
    ("authors", "counting"): COUNTING,
    ("authors", "coauthor_weight"): ("joint_papers", "fractional"),
}

#: Keys whose values are paths, resolved against the job file's folder.
PATH_KEYS = {
    ("input", "citations"), ("input", "papers"), ("input", "authorships"), ("input", "coauthorships"),
    ("input.synthetic", "dir"), ("personalize", "seeds"), ("credit", "targets"), ("output", "dir"),
}


def choices_of(section: str, name: str) -> tuple[str, ...] | None:
    """The values a key may take, or None when any value of its type will do."""
    if (section, name) == ("rank", "algorithm"):
        return tuple(RANKERS)
    if (section, name) == ("authors", "algorithm"):
        return tuple(AUTHOR_RANKERS)
    return CHOICES.get((section, name))
