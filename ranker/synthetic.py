"""A deterministic generator of realistic citation graphs, streamed to parquet.

Papers arrive in time order (more of them every year) and cite mostly older papers, chosen
by preferential attachment damped by age, which gives heavy-tailed citation counts. A small
share of citations point to newer papers (revised preprints), so the graph has cycles like
arXiv's, and a few are self-citations or repeated rows. Two knobs shape the cycles:
``forward_share`` (citations to a newer paper up to one chunk ahead: few cycles, spread over
time) and ``reply_share`` (a cited paper revised to cite its newer citer back, within
``reply_window_years``): pairs that chain into components, up to one component holding most
papers (:data:`REGIMES`). Each paper gets 1 to 10 authors,
drawn from a growing pool in which prolific authors write more.

The same function builds the demo graph in a second and benchmark graphs of 10M papers and
100M+ citations chunk by chunk, in memory proportional to the number of papers.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ConfigError, GraphError

GENERATOR_VERSION = 1
EPOCH_YEAR = 1970


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of :func:`generate`; the same spec always gives the same files."""

    papers: int = 20_000
    mean_references: float = 10.0
    seed: int = 0
    seed_sets: int = 8
    first_year: int = 1992
    last_year: int = 2024
    growth: float = 2.0  # papers per year grow by e**growth over the span
    age_scale_years: float = 6.0  # preference for recent papers: exp(-age / age_scale_years)
    forward_share: float = 0.01  # citations to newer papers (revised preprints)
    reply_share: float = 0.0  # a cited paper revised to cite its newer citer back (a 2-cycle; many merge)
    reply_window_years: float = 1.0  # ... when the citer is at most this much newer
    self_share: float = 0.0002
    # string ("W000000123"), integer, or openalex ("https://openalex.org/W2741809807": ids in no relation to
    # the papers' order, and each citation file's rows shuffled, as a snapshot's update order has them)
    id_kind: str = "string"
    chunk_papers: int = 65_536
    rows_per_file: int = 10_000_000


#: Spec overrides for the cycle structures benchmarks compare on (issue 10): few cycles spread
#: over time (the default), cycles made by papers citing their newer citers back, and one
#: component holding most papers, as a web graph would. The reply chains percolate: at 200k
#: papers ``cycles`` puts about 20% of papers on cycles in many components, at 2M papers 81%,
#: nearly all in one component (measured; BENCHMARKS.md).
REGIMES = {
    "spread": {},
    "cycles": {"reply_share": 0.145, "reply_window_years": 3.0},
    "cycles30": {"reply_share": 0.03, "reply_window_years": 3.0},
    "giant": {"forward_share": 0.05, "reply_share": 0.6, "reply_window_years": 5.0},
}


#: OpenAlex-style ids: ``W`` numbers of 10 digits from an affine bijection of the paper index (no order kept).
OPENALEX_PREFIX = "https://openalex.org/W"
_OPENALEX_MODULUS = 8_999_999_999  # > any paper count used; prime-free is fine for a bijection when gcd = 1
_OPENALEX_STEP = 2_654_435_761  # coprime with the modulus


def _paper_ids(idx: np.ndarray, kind: str) -> pa.Array:
    arr = pa.array(idx.astype(np.int64))
    if kind == "integer":
        return arr
    if kind == "openalex":
        w = (idx.astype(np.int64) * _OPENALEX_STEP) % _OPENALEX_MODULUS + 1_000_000_000
        return pc.binary_join_element_wise(OPENALEX_PREFIX, pc.cast(pa.array(w), pa.string()), "")
    return pc.binary_join_element_wise("W", pc.utf8_lpad(pc.cast(arr, pa.string()), 9, "0"), "")


def _author_ids(idx: np.ndarray) -> pa.Array:
    digits = pc.cast(pa.array(idx.astype(np.int64)), pa.string())
    return pc.binary_join_element_wise("A", pc.utf8_lpad(digits, 7, "0"), "")


#: Written first into a directory the generator makes; only such a directory's files are ever replaced.
MARKER = ".rank-citations-synthetic"
#: Everything the generator writes in its directory.
GENERATED = ("citations", "papers.parquet", "authorships.parquet", "seeds.parquet", "manifest.json", MARKER)


def check_generator_dir(out: Path) -> None:
    """Refuse a directory that holds files the generator did not write.

    The generator replaces its own files when the spec changes; a directory that exists, is
    not empty and has no :data:`MARKER` holds somebody else's data, which must not be deleted.

    Raises
    ------
    ConfigError
        ``out`` is not a directory, or is a non-empty directory without the marker.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConfigError(f"[input.synthetic] dir {out} is not a directory")
    if not out.is_dir() or (out / MARKER).is_file():
        return
    entries = [p.name for p in out.iterdir()]
    if entries and set(entries) <= {*GENERATED, ".generating"} and _legacy_manifest(out / "manifest.json"):
        return  # made by a version of the generator that wrote no marker
    if entries:
        shown = ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
        raise ConfigError(f"[input.synthetic] dir {out} already holds files the generator did not write ({shown}); "
                          "choose an empty or new directory (the generator never replaces data it did not make)")


def _legacy_manifest(path: Path) -> bool:
    try:
        return "generator_version" in json.loads(path.read_text())
    except (OSError, ValueError, TypeError):
        return False


def generate(out_dir: str | Path, spec: SyntheticSpec = SyntheticSpec(), *, progress: Any = None) -> dict:
    """Write a synthetic citation dataset under ``out_dir``.

    Files: ``citations/part-NNNNN.parquet`` (``citing``, ``cited``), ``papers.parquet``
    (``paper_id``, ``date``, ``year``), ``authorships.parquet`` (``paper_id``, ``author``,
    ``position``), ``seeds.parquet`` (``seed_set``, ``paper_id``, ``weight``) and
    ``manifest.json``. When ``manifest.json`` already records the same spec the files are
    reused. Files are written into a temporary folder and moved into place at the end.

    Parameters
    ----------
    out_dir : path
    spec : SyntheticSpec
    progress : callable, optional
        Called with the number of papers generated after each chunk.

    Returns
    -------
    dict
        The manifest: the spec, and counts of papers, citations and authorships.
    """
    out = Path(out_dir)
    want = {"generator_version": GENERATOR_VERSION, "spec": asdict(spec)}
    check_generator_dir(out)
    have = _reusable_manifest(out, want)
    if have is not None:
        return have
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("This directory was made by the rank-citations generator, which may replace the files "
                              "it wrote here.\n")
    tmp = Path(tempfile.mkdtemp(prefix=".generating-", dir=out))  # never a planted name or link
    try:
        counts = _write_files(tmp, spec, progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = {**want, "papers": spec.papers, **counts, "seed_sets": spec.seed_sets}
    _move_into_place(tmp, out, manifest)
    return manifest


def _reusable_manifest(out: Path, want: dict) -> dict | None:
    """The manifest of files already generated in ``out`` for the same spec and version, else None."""
    if not ((out / "manifest.json").is_file() and (out / MARKER).is_file()):
        return None
    try:
        have = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return have if {k: have.get(k) for k in want} == want else None


def _publication_days(spec: SyntheticSpec) -> tuple[np.ndarray, np.ndarray]:
    """Day (since 1970) and year of each paper: paper density grows exponentially over the years."""
    n = spec.papers
    t = (np.arange(n) + 0.5) / n
    g = spec.growth
    frac = np.log1p(np.expm1(g) * t) / g if g > 0 else t
    span = spec.last_year + 1 - spec.first_year
    years_f = spec.first_year + span * frac  # fractional year, increasing
    return np.floor((years_f - EPOCH_YEAR) * 365.25).astype(np.int32), np.floor(years_f).astype(np.int16)


#: At most about this many chunks: each one draws its references over every earlier paper (the
#: weights age), so a fixed chunk size made the generator quadratic (1B citations in about two
#: hours); past ``chunk_papers * CHUNKS`` papers (33.5M) chunks grow with the graph instead.
CHUNKS = 512


def _chunks(spec: SyntheticSpec) -> list[tuple[int, int]]:
    """Paper ranges generated together; the earliest papers cite nothing inside the data (its boundary)."""
    n = spec.papers
    start = min(n, max(1, n // 200))
    bounds = [(0, start)]
    s = start
    step = max(spec.chunk_papers, n // CHUNKS)
    while s < n:
        e = min(n, s + min(step, s))  # a chunk never outgrows what it can cite
        bounds.append((s, e))
        s = e
    return bounds


class _Scratch:
    """Buffers of one entry per paper, reused by every chunk: the weights of all earlier papers were
    new arrays each chunk (six of 8 bytes per paper), and at 84M papers faulting their pages in
    took half the generator's time (1,147 s of system time in 41.5 min, measured)."""

    def __init__(self, n: int) -> None:
        self.days, self.age, self.weight = np.empty(n, np.int32), np.empty(n), np.empty(n)


def _references(rng: np.random.Generator, spec: SyntheticSpec, s: int, e: int, days: np.ndarray,
                indeg: np.ndarray, scratch: _Scratch) -> tuple[np.ndarray, np.ndarray]:
    """The citations of papers ``s..e-1``: preferential attachment with ageing, a share of forward
    citations (a newer paper, at most one chunk ahead), self-citations and replies (cycles)."""
    n, m = spec.papers, e - s
    idx = np.arange(s, e)
    spread = rng.lognormal(0.0, 0.6, m) / np.exp(0.18)
    nref = np.minimum(rng.poisson(spec.mean_references * spread), 300)
    citing = np.repeat(idx, nref)
    k = citing.size
    # w = (indeg + 1) exp(-age / scale), age = (days[s] - days) / 365.25: the same operations in place
    age = np.divide(np.subtract(days[s], days[:s], out=scratch.days[:s]), 365.25, out=scratch.age[:s])
    np.exp(np.divide(np.negative(age, out=age), spec.age_scale_years, out=age), out=age)
    w = np.multiply(np.add(indeg[:s], 1.0, out=scratch.weight[:s]), age, out=scratch.weight[:s])
    cdf = np.cumsum(w, out=w)
    draw = rng.random(k) * cdf[-1]
    by_value = np.argsort(draw, kind="stable")  # searched in increasing order: memory-local, same result
    cited = np.empty(k, np.int64)
    cited[by_value] = np.searchsorted(cdf, draw[by_value], side="right")
    np.minimum(cited, s - 1, out=cited)
    u = rng.random(k)
    fwd = u < spec.forward_share
    if fwd.any():  # a newer paper, at most one chunk ahead
        cited[fwd] = np.minimum(citing[fwd] + 1 + rng.integers(0, m, int(fwd.sum())), n - 1)
    own = (u >= spec.forward_share) & (u < spec.forward_share + spec.self_share)
    cited[own] = citing[own]
    if spec.reply_share > 0:  # the cited paper, revised, cites its citer back
        recent = (days[citing] - days[cited]) <= spec.reply_window_years * 365.25
        reply = (cited < citing) & recent & (rng.random(k) < spec.reply_share)
        citing, cited = (np.concatenate([citing, cited[reply]]), np.concatenate([cited, citing[reply]]))
    return citing, cited


class _Authors:
    """Authors of each new paper: 1..10; a slot is a returning author with probability 0.75, drawn
    uniformly over past slots (so in proportion to past output)."""

    def __init__(self) -> None:
        self.slots = np.empty(1024, np.int64)  # every authorship so far: author of each slot
        self.n_slots = 0
        self.n_authors = 0

    def draw(self, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        """``(authors per paper [m], author of each slot)`` for ``m`` new papers."""
        n_auth = np.minimum(1 + rng.poisson(1.6, m), 10)
        slots = int(n_auth.sum())
        past = self.slots[:self.n_slots]
        returning = (rng.random(slots) < 0.75) & (past.size > 0)
        who = np.empty(slots, np.int64)
        n_new = int((~returning).sum())
        who[~returning] = np.arange(self.n_authors, self.n_authors + n_new)
        self.n_authors += n_new
        if returning.any():
            who[returning] = past[rng.integers(0, past.size, int(returning.sum()))]
        if self.n_slots + slots > self.slots.size:
            self.slots = np.resize(self.slots, max(2 * self.slots.size, self.n_slots + slots))
        self.slots[self.n_slots:self.n_slots + slots] = who
        self.n_slots += slots
        return n_auth, who


def _write_files(tmp: Path, spec: SyntheticSpec, progress: Any) -> dict[str, int]:
    """Generate every file into ``tmp``; returns the counts for the manifest."""
    (tmp / "citations").mkdir()
    rng = np.random.default_rng(spec.seed)
    n = spec.papers
    days, years = _publication_days(spec)
    indeg = np.zeros(n, dtype=np.float64)
    scratch = _Scratch(n)
    authors = _Authors()
    id_type = pa.int64() if spec.id_kind == "integer" else pa.string()
    cit_schema = pa.schema([("citing", id_type), ("cited", id_type)])
    pap_schema = pa.schema([("paper_id", id_type), ("date", pa.date32()), ("year", pa.int16())])
    aut_schema = pa.schema([("paper_id", id_type), ("author", pa.string()), ("position", pa.int16())])
    papers_w = pq.ParquetWriter(tmp / "papers.parquet", pap_schema, compression="zstd")
    auth_w = pq.ParquetWriter(tmp / "authorships.parquet", aut_schema, compression="zstd")
    cit_w = None
    pending: list[np.ndarray] = []  # openalex: (citing, cited) rows of the file being written
    shuffle_rng = np.random.default_rng([spec.seed, 1])  # its own stream: the graph is the integer kind's
    file_no, file_rows, n_citations, n_authorships = 0, 0, 0, 0
    for s, e in _chunks(spec):
        m = e - s
        idx = np.arange(s, e)
        if s == 0 or spec.mean_references == 0:
            citing = cited = np.empty(0, np.int64)
        else:
            citing, cited = _references(rng, spec, s, e, days, indeg, scratch)
            counts = np.bincount(cited)  # cited < e + one chunk: not the whole graph's length each chunk
            indeg[:counts.size] += counts
        if citing.size:
            if cit_w is None:
                cit_w = pq.ParquetWriter(tmp / "citations" / f"part-{file_no:05d}.parquet", cit_schema,
                                         compression="zstd")
            if spec.id_kind == "openalex":  # rows of a file are written shuffled when it is full
                pending.append(np.stack([citing, cited], axis=1))
            else:
                cit_w.write_table(pa.table([_paper_ids(citing, spec.id_kind), _paper_ids(cited, spec.id_kind)],
                                           schema=cit_schema))
            file_rows += citing.size
            n_citations += citing.size
            if file_rows >= spec.rows_per_file:
                _write_shuffled(cit_w, pending, shuffle_rng, spec, cit_schema)
                cit_w.close()
                cit_w, file_rows, file_no = None, 0, file_no + 1
        papers_w.write_table(pa.table([_paper_ids(idx, spec.id_kind), pa.array(days[s:e], pa.date32()),
                                       pa.array(years[s:e], pa.int16())], schema=pap_schema))
        n_auth, who = authors.draw(rng, m)
        paper_of = np.repeat(idx, n_auth)
        pos = (np.arange(who.size) - np.repeat(np.cumsum(n_auth) - n_auth, n_auth)).astype(np.int16)
        auth_w.write_table(pa.table([_paper_ids(paper_of, spec.id_kind), _author_ids(who), pa.array(pos, pa.int16())],
                                    schema=aut_schema))
        n_authorships += who.size
        if progress is not None:
            progress(m)
    if cit_w is not None:
        _write_shuffled(cit_w, pending, shuffle_rng, spec, cit_schema)
        cit_w.close()
    papers_w.close()
    auth_w.close()
    pq.write_table(_seed_sets(rng, spec), tmp / "seeds.parquet")
    if n_citations == 0:
        raise GraphError(f"[input.synthetic] papers = {n}, mean_references = {spec.mean_references} generated no "
                         "citation; raise papers or mean_references")
    return {"citations": int(n_citations), "authorships": int(n_authorships), "authors": int(authors.n_authors)}


def _write_shuffled(writer: pq.ParquetWriter, pending: list[np.ndarray], rng: np.random.Generator,
                    spec: SyntheticSpec, schema: pa.Schema) -> None:
    """The rows held for one file, in a random order, in row groups of 1M (openalex ids)."""
    if not pending:
        return
    rows = np.concatenate(pending)
    pending.clear()
    rows = rows[rng.permutation(rows.shape[0])]
    for s in range(0, rows.shape[0], 1 << 20):
        part = rows[s:s + (1 << 20)]
        writer.write_table(pa.table([_paper_ids(part[:, 0], spec.id_kind), _paper_ids(part[:, 1], spec.id_kind)],
                                    schema=schema))


def _seed_sets(rng: np.random.Generator, spec: SyntheticSpec) -> pa.Table:
    """Seed sets: each a handful of recent papers (a reading list), weighted by position."""
    n = spec.papers
    seed_rows = []
    lo = n // 2
    for j in range(spec.seed_sets):
        size = int(rng.integers(1, 6))
        picks = rng.choice(np.arange(lo, n), size=min(size, n - lo), replace=False)
        for r, p in enumerate(sorted(picks.tolist())):
            seed_rows.append((f"set-{j:03d}", p, 1.0 / (r + 1)))
    return pa.table({
        "seed_set": pa.array([r[0] for r in seed_rows], pa.string()),
        "paper_id": _paper_ids(np.array([r[1] for r in seed_rows], np.int64), spec.id_kind),
        "weight": pa.array([r[2] for r in seed_rows], pa.float64()),
    })


def _move_into_place(tmp: Path, out: Path, manifest: dict) -> None:
    """The generated files take their names in ``out``, the manifest last."""
    for name in ("citations", "papers.parquet", "authorships.parquet", "seeds.parquet"):
        target = out / name
        if target.is_symlink():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        (tmp / name).rename(target)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (tmp / "manifest.json").rename(out / "manifest.json")
    shutil.rmtree(tmp, ignore_errors=True)
