"""The TOML job file read and validated, once, at the edge.

Unknown keys, wrong types and bad values raise :class:`~ranker.errors.ConfigError` naming the key
(``[rank] alpha``). Relative paths are resolved against the directory of the job file, so a job
runs the same from any working directory. The keys themselves, with their defaults, are
:mod:`ranker.config.sections`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..registry import AUTHOR_RANKERS, RANKERS
from .reference import toml_key
from .sections import (
    PATH_KEYS,
    SECTIONS,
    AuthorsConfig,
    CreditConfig,
    InputConfig,
    JobConfig,
    OutputConfig,
    PersonalizeConfig,
    RankConfig,
    SyntheticConfig,
    TrajectoriesConfig,
    choices_of,
)


def _written(name: Any) -> str:
    """A key or section name from the job as TOML writes it, so a newline in it cannot split the
    one-line error (a name that is not a string came from a Python dict, not from TOML)."""
    return toml_key(name) if isinstance(name, str) else repr(name)


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
        choices = choices_of(section, key)
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
            raise ConfigError(f"unknown key [{section}] {_written(key)}; known keys: {known}")
        if key in nested:
            values[key] = _parse_section(nested[key], f"{section}.{key}", value, base=base)
            continue
        f = fields[key]
        default = f.default  # every key of a section has a plain default (sections.key)
        value = _check_type(section, key, value, default)
        if (section, key) in PATH_KEYS and value:
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
    known = {section for section in SECTIONS if "." not in section}  # input.synthetic is a table in [input]
    for section in data:
        if section not in known:
            raise ConfigError(f"unknown section [{_written(section)}] in {source}; known: {', '.join(sorted(known))}")
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
    from ..io.listing import citation_files

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
    needs = AUTHOR_RANKERS[authors.algorithm].needs
    given = {"authorships": bool(inp.authorships), "coauthorships": bool(inp.coauthorships)}
    if needs and not any(given[what] for what in needs.split(" or ")):
        raise ConfigError(f"[authors] algorithm = {authors.algorithm!r} needs [input] {needs}")


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
