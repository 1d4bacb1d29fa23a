"""The TOML job file: parsing and validation, done once at the edge.

Every key is documented in the README ("Job file"). Unknown keys, wrong types and bad
values raise :class:`~ranker.errors.ConfigError` naming the key (``[rank] alpha``).
Relative paths are resolved against the directory of the job file, so a job runs the
same from any working directory.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .choices import COUNTING, METHODS
from .errors import ConfigError
from .registry import RANKERS


@dataclass(frozen=True)
class SyntheticConfig:
    """``[input.synthetic]``: generate a citation graph instead of reading one."""

    papers: int = 20_000
    mean_references: float = 10.0
    seed: int = 0
    seed_sets: int = 8
    dir: str = ""  # default: <output.dir>/data


@dataclass(frozen=True)
class InputConfig:
    citations: str = ""
    citing_column: str = "citing"
    cited_column: str = "cited"
    weight_column: str = ""
    papers: str = ""
    paper_id_column: str = "paper_id"
    self_citations: str = "keep"  # keep | drop
    duplicates: str = "once"  # once | sum
    unknown_papers: str = "keep"  # keep | drop | error  (citations naming papers absent from `papers`)
    batch_rows: int = 1_000_000
    format: str = "auto"  # auto | parquet | csv | tsv | jsonl  (citation files; auto: by name, else by content)
    weight_offset: float = 0.0  # added to every citation weight: 1.0 gives Semantic Scholar's 1 + isinfluential
    compact_ids: bool = True  # string ids that are one prefix and digits are held as integers (written back unchanged)
    date_column: str = "date"  # in `papers`: publication date (citerank, rescaled_pagerank)
    year_column: str = "year"  # in `papers`: used where the date is missing
    title_column: str = "title"  # in `papers`: shown beside the scores (OpenAlex: display_name)
    authorships: str = ""  # optional parquet: paper_id, author, optional position
    authorship_paper_column: str = "paper_id"
    author_column: str = "author"
    position_column: str = "position"
    coauthorships: str = ""  # optional parquet: author_a, author_b, optional weight (coauthor_pagerank, coranking)
    synthetic: SyntheticConfig | None = None


@dataclass(frozen=True)
class RankConfig:
    alpha: float = 0.85
    tol: float = 1e-10
    max_iter: int = 1000
    device: str = "auto"  # auto | cuda | cpu
    dtype: str = "float64"  # float64 | float32
    on_nonconvergence: str = "error"  # error | warn
    index_dtype: str = "auto"  # auto | int32 | int64
    method: str = "auto"  # auto | dag | power
    kernel: str = "torch"  # torch | triton (fused Triton step for the power method; CUDA)
    algorithm: str = "pagerank"  # a registered ranker (ranker.registry): pagerank | citerank | articlerank | ...
    tau: float = 2.6  # citerank: decay time in years
    reference_date: str = ""  # citerank: ISO date the ages are measured at; default the newest paper's
    window: int = 1000  # rescaled_pagerank: papers per time window


@dataclass(frozen=True)
class PersonalizeConfig:
    seeds: str = ""
    seed_set_column: str = "seed_set"
    paper_id_column: str = "paper_id"
    weight_column: str = ""  # default: "weight" when the file has it, else every seed weighs 1
    top_k: int = 100
    batch_size: int = 0  # seed sets solved together; 0 = automatic from memory
    exclude_seeds: bool = False  # leave each set's seed papers out of its list (and of the shares)


@dataclass(frozen=True)
class AuthorsConfig:
    algorithm: str = "paper_scores"  # paper_scores | author_pagerank | coauthor_pagerank | coranking
    jump: float = 0.2  # coranking: probability of crossing between papers and authors per step
    counting: str = "fractional"  # full | fractional | harmonic | first_last
    coauthor_weight: str = "joint_papers"  # joint_papers | fractional


@dataclass(frozen=True)
class CreditConfig:
    targets: str = ""  # parquet of target papers
    target_column: str = "target"
    top_k: int = 100


@dataclass(frozen=True)
class TrajectoriesConfig:
    """``[trajectories]``: the ranking of each year's citation record, every year in one batched solve."""

    years: tuple = ()  # the records' last years; () (written "all" in the job file): every year of the papers
    top_k: int = 100  # papers kept per year in trajectories.parquet; 0 keeps every paper of the record
    batch_size: int = 0  # years solved together; 0 = automatic from memory


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "out"
    exclude_ids: tuple = ()  # paper or author ids left out of every output; shares renormalized
    ties: str = "ordinal"  # ordinal | min | dense  (rank of equal scores: 1,2,3 | 1,1,3 | 1,1,2)
    normalize_by: tuple = ()  # percentiles within groups: ["year"] or ["year", "<column of the papers file>"]
    report: bool = True  # report.html beside the outputs


@dataclass(frozen=True)
class JobConfig:
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


#: The choices of the job file's keys, each defined once (the API and the CLI take them from here).
DEVICES = ("auto", "cuda", "cpu")
TIES = ("ordinal", "min", "dense")
FORMATS = ("auto", "parquet", "csv", "tsv", "jsonl")
AUTHOR_ALGORITHMS = ("paper_scores", "author_pagerank", "coauthor_pagerank", "coranking")

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
    ("authors", "algorithm"): AUTHOR_ALGORITHMS,
    ("authors", "coauthor_weight"): ("joint_papers", "fractional"),
}

_PATH_KEYS = {
    ("input", "citations"), ("input", "papers"), ("input", "authorships"), ("input", "coauthorships"),
    ("input.synthetic", "dir"), ("personalize", "seeds"), ("credit", "targets"), ("output", "dir"),
}


def _check_type(section: str, key: str, value: Any, default: Any) -> Any:
    name = f"[{section}] {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if not -2**63 <= value < 2**63:
            raise ConfigError(f"{name} = {value} does not fit in 64 bits")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                  for v in value):
            raise ConfigError(f"{name} must be a list of ids (strings or integers), got {value!r}")
        return tuple(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        choices = CHOICES.get((section, key)) or (tuple(RANKERS) if (section, key) == ("rank", "algorithm") else None)
        if choices and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
        return value
    raise AssertionError(f"no type rule for {name}")  # pragma: no cover


def _parse_section(cls: type, section: str, table: Any, *, base: Path,
                   nested: dict[str, type] | None = None) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table, got {table!r}")
    nested = nested or {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key [{section}] {key}; known keys: {known}")
        if key in nested:
            values[key] = _parse_section(nested[key], f"{section}.{key}", value, base=base)
            continue
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        value = _check_type(section, key, value, default)
        if (section, key) in _PATH_KEYS and value:
            value = os.path.normpath(os.path.join(base, os.path.expanduser(value)))
        values[key] = value
    return cls(**values)


def parse_config(data: dict[str, Any], *, base: Path | str = ".", source: str = "<dict>") -> JobConfig:
    """Validate a job given as a dict (the parsed TOML).

    Parameters
    ----------
    data : dict
        Sections ``input``, ``rank``, ``personalize``, ``output``.
    base : path
        Directory against which relative paths are resolved.
    source : str
        Name of the job file, used in messages.

    Returns
    -------
    JobConfig

    Raises
    ------
    ConfigError
        Unknown section or key, wrong type, value out of range, missing input file.
    """
    base = Path(base)
    known = {"input", "rank", "personalize", "output", "authors", "credit", "trajectories"}
    for section in data:
        if section not in known:
            raise ConfigError(f"unknown section [{section}] in {source}; known: {', '.join(sorted(known))}")
    if "input" not in data:
        raise ConfigError(f"{source} has no [input] section")
    inp = _parse_section(InputConfig, "input", data["input"], base=base,
                         nested={"synthetic": SyntheticConfig})
    rank = _parse_section(RankConfig, "rank", data.get("rank", {}), base=base)
    pers = (_parse_section(PersonalizeConfig, "personalize", data["personalize"], base=base)
            if "personalize" in data else None)
    out = _parse_section(OutputConfig, "output", data.get("output", {}), base=base)
    authors = _parse_section(AuthorsConfig, "authors", data.get("authors", {}), base=base)
    credit = _parse_section(CreditConfig, "credit", data["credit"], base=base) if "credit" in data else None
    trajectories = _parse_trajectories(data["trajectories"]) if "trajectories" in data else None
    if not os.path.isabs(out.dir):  # "" is the job file's directory, like "."
        out = dataclasses.replace(out, dir=os.path.normpath(os.path.join(base, out.dir)))
    _check_rank(rank)
    _check_input(inp)
    _check_credit(credit)
    _check_personalize(pers)
    _check_output(out)
    _check_trajectories(trajectories, rank)
    if inp.synthetic is not None:
        inp, pers = _with_synthetic_paths(inp, pers, out)
    else:
        _check_input_files(inp, rank, pers, source)
        for what, needed in (("[trajectories]", trajectories is not None), ("[output] normalize_by",
                                                                           bool(out.normalize_by))):
            if needed and not inp.papers:
                raise ConfigError(f"{what} needs [input] papers with a {inp.year_column!r} or {inp.date_column!r} "
                                  "column (each paper's year)")
    _check_authors(authors, inp)
    return JobConfig(input=inp, rank=rank, personalize=pers, output=out, authors=authors, credit=credit,
                     trajectories=trajectories, source=source)


def _parse_trajectories(table: Any) -> TrajectoriesConfig:
    """``[trajectories]``: ``years`` is "all" or a list of years (integers)."""
    if not isinstance(table, dict):
        raise ConfigError(f"[trajectories] must be a table, got {table!r}")
    table = dict(table)
    years = table.pop("years", "all")
    parsed = _parse_section(TrajectoriesConfig, "trajectories", table, base=Path("."))
    if years == "all":
        years = ()
    elif (isinstance(years, list) and years and all(isinstance(y, int) and not isinstance(y, bool)
                                                    and -9999 <= y <= 9999 for y in years)):
        if len(set(years)) != len(years):
            raise ConfigError(f"[trajectories] years names a year twice: {years!r}")
        years = tuple(sorted(years))
    else:
        raise ConfigError(f'[trajectories] years must be "all" or a non-empty list of years (integers), got {years!r}')
    return dataclasses.replace(parsed, years=years)


def _check_trajectories(traj: TrajectoriesConfig | None, rank: RankConfig) -> None:
    if traj is None:
        return
    if traj.top_k < 0:
        raise ConfigError(f"[trajectories] top_k must be >= 0 (0 keeps every paper), got {traj.top_k}")
    if traj.batch_size < 0:
        raise ConfigError(f"[trajectories] batch_size must be >= 0, got {traj.batch_size}")
    if not RANKERS[rank.algorithm].through_time:
        able = ", ".join(name for name, r in RANKERS.items() if r.through_time)
        raise ConfigError(f"[trajectories] ranks each year by {able}; [rank] algorithm = {rank.algorithm!r} has no "
                          "per-year form here")


def _check_output(out: OutputConfig) -> None:
    keys = out.normalize_by
    if not all(isinstance(k, str) and k for k in keys):
        raise ConfigError(f"[output] normalize_by must be a list of column names, like [\"year\", \"field\"]; "
                          f"got {list(keys)!r}")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"[output] normalize_by names a column twice: {list(keys)!r}")


def _check_rank(rank: RankConfig) -> None:
    if not 0.0 < rank.alpha < 1.0:
        raise ConfigError(f"[rank] alpha must be in (0, 1), got {rank.alpha}")
    if not 0.0 < rank.tol < float("inf"):
        raise ConfigError(f"[rank] tol must be a finite number > 0, got {rank.tol}")
    if rank.max_iter < 1:
        raise ConfigError(f"[rank] max_iter must be >= 1, got {rank.max_iter}")
    if not rank.tau > 0:
        raise ConfigError(f"[rank] tau must be > 0 (years), got {rank.tau}")
    if rank.window < 2:
        raise ConfigError(f"[rank] window must be >= 2 (papers), got {rank.window}")
    if rank.reference_date:
        try:
            datetime.date.fromisoformat(rank.reference_date)
        except ValueError:
            raise ConfigError(f"[rank] reference_date must be an ISO date like 2003-04-30, "
                              f"got {rank.reference_date!r}") from None


def _check_input(inp: InputConfig) -> None:
    if not (0.0 <= inp.weight_offset < float("inf")):
        raise ConfigError(f"[input] weight_offset must be finite and >= 0, got {inp.weight_offset}")
    if inp.batch_rows < 1:
        raise ConfigError(f"[input] batch_rows must be >= 1, got {inp.batch_rows}")
    for key in ("citing_column", "cited_column", "paper_id_column"):
        if not getattr(inp, key):
            raise ConfigError(f"[input] {key} must not be empty")
    if inp.citing_column == inp.cited_column:
        raise ConfigError(f"[input] citing_column and cited_column are both {inp.citing_column!r}: they must name "
                          "two different columns")
    if inp.weight_column and inp.weight_column in (inp.citing_column, inp.cited_column):
        raise ConfigError(f"[input] weight_column {inp.weight_column!r} is also an id column")


def _check_credit(credit: CreditConfig | None) -> None:
    if credit is None:
        return
    if not credit.targets:
        raise ConfigError("[credit] targets is required")
    if not Path(credit.targets).is_file():
        raise ConfigError(f"[credit] targets: no such file {credit.targets}")
    if credit.top_k < 1:
        raise ConfigError(f"[credit] top_k must be >= 1, got {credit.top_k}")


def _check_personalize(pers: PersonalizeConfig | None) -> None:
    if pers is None:
        return
    if pers.top_k < 1:
        raise ConfigError(f"[personalize] top_k must be >= 1, got {pers.top_k}")
    if pers.batch_size < 0:
        raise ConfigError(f"[personalize] batch_size must be >= 0, got {pers.batch_size}")


def _with_synthetic_paths(inp: InputConfig, pers: PersonalizeConfig | None,
                          out: OutputConfig) -> tuple[InputConfig, PersonalizeConfig | None]:
    """``[input.synthetic]`` checked, and the paths of the files it generates filled in."""
    syn = inp.synthetic
    assert syn is not None
    if inp.citations or inp.papers:
        raise ConfigError("[input] citations/papers must be left out when [input.synthetic] is given")
    if syn.papers < 2:
        raise ConfigError(f"[input.synthetic] papers must be >= 2 (a paper needs another to cite), got {syn.papers}")
    if not syn.mean_references > 0:
        raise ConfigError(f"[input.synthetic] mean_references must be > 0 (a graph needs citations), "
                          f"got {syn.mean_references}")
    if syn.seed_sets < 0:
        raise ConfigError(f"[input.synthetic] seed_sets must be >= 0, got {syn.seed_sets}")
    data_dir = syn.dir or str(Path(out.dir) / "data")
    syn = dataclasses.replace(syn, dir=data_dir)
    inp = dataclasses.replace(inp, synthetic=syn, citations=str(Path(data_dir) / "citations"),
                              papers=str(Path(data_dir) / "papers.parquet"),
                              authorships=inp.authorships or str(Path(data_dir) / "authorships.parquet"))
    if pers is not None and not pers.seeds:
        pers = dataclasses.replace(pers, seeds=str(Path(data_dir) / "seeds.parquet"))
    return inp, pers


def _check_input_files(inp: InputConfig, rank: RankConfig, pers: PersonalizeConfig | None, source: str) -> None:
    """The input files a job names exist (their contents are checked when the job starts)."""
    if not inp.citations:
        raise ConfigError(f"[input] citations is required in {source}")
    from .io.listing import citation_files

    citation_files(inp.citations)  # raises when nothing matches
    if inp.papers and not Path(inp.papers).is_file():
        raise ConfigError(f"[input] papers: no such file {inp.papers}")
    if inp.authorships and not Path(inp.authorships).is_file():
        raise ConfigError(f"[input] authorships: no such file {inp.authorships}")
    if RANKERS[rank.algorithm].needs_dates and not inp.papers:
        raise ConfigError(f"[rank] algorithm = {rank.algorithm!r} needs [input] papers with a "
                          f"{inp.date_column!r} or {inp.year_column!r} column")
    if pers is not None:
        if not pers.seeds:
            raise ConfigError("[personalize] seeds is required")
        if not Path(pers.seeds).is_file():
            raise ConfigError(f"[personalize] seeds: no such file {pers.seeds}")


def _check_authors(authors: AuthorsConfig, inp: InputConfig) -> None:
    if not 0.0 < authors.jump < 1.0:  # 0 decouples the two walks, 1 can make the chain periodic
        raise ConfigError(f"[authors] jump must be in (0, 1), got {authors.jump}")
    if inp.coauthorships and not Path(inp.coauthorships).is_file():
        raise ConfigError(f"[input] coauthorships: no such file {inp.coauthorships}")
    if authors.algorithm == "coauthor_pagerank":
        if not (inp.authorships or inp.coauthorships):
            raise ConfigError("[authors] algorithm = 'coauthor_pagerank' needs [input] authorships or coauthorships")
    elif authors.algorithm != "paper_scores" and not inp.authorships:
        raise ConfigError(f"[authors] algorithm = {authors.algorithm!r} needs [input] authorships")


def load_config(path: str | os.PathLike[str], *, overrides: list[str] | tuple[str, ...] = ()) -> JobConfig:
    """Read a TOML job file, apply ``overrides`` (``--set section.key=value``), validate once.

    Raises :class:`ConfigError` on any problem.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"job file not found: {p}")
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not valid UTF-8 text: {exc}") from None
    return parse_config(apply_overrides(data, overrides), base=p.resolve().parent, source=str(p))


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The parsed job file with each ``section.key=value`` set (nested: ``input.synthetic.papers=1000``).

    ``value`` is read as a TOML value (``0.5``, ``true``, ``"text"``, ``[1, 2]``); anything that is
    not one is taken as a string (``rank.device=cpu``). The result is validated as a whole by
    :func:`parse_config`, like the file itself.
    """
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, such as rank.alpha=0.5")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        table = data
        for name in parts[:-1]:
            table = table.setdefault(name, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {item!r}: {name!r} is a key, not a section")
        table[parts[-1]] = value
    return data
