"""``report.html``: a finished run as a page a person can look at, self-contained (no network fetch).

The top papers (with title and year when the papers file has them), the score distribution
on log-log axes, score against publication year, the convergence curve (L1 change per
iteration) of each solve, the top of each seed set and of each credit target, the authors'
table, and the run's facts (sizes, device, solver, stages and times). Figures are drawn with
matplotlib (its Agg backend: no display needed) and embedded as PNG data; tables are HTML.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Rows of each table in the report (the parquet files hold them all).
TOP_ROWS = 20
#: Seed sets and credit targets shown (the first ones, in file order).
MAX_GROUPS = 12
#: Papers drawn in the score-against-year scatter (a deterministic sample beyond this).
MAX_POINTS = 50_000


def render_report(tables: dict[str, pa.Table], meta: dict[str, Any], curves: dict[str, list[tuple[int, float]]],
                  ) -> str:
    """The HTML page of a run.

    Parameters
    ----------
    tables : dict
        Output name -> Arrow table (``papers``, and ``personalized``, ``authors``, ``credit``
        when the job wrote them).
    meta : dict
        The run metadata (``run.json``'s contents so far).
    curves : dict
        Solve name -> its ``(iteration, L1 residual)`` pairs.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    papers = tables["papers"]
    parts = [_HEAD, "<h1>rank-citations report</h1>", _facts(meta)]
    parts.append("<h2>Top papers</h2>" + _table(papers.slice(0, TOP_ROWS)))
    parts.append("<h2>Scores</h2><div class='figs'>" + _img(_distribution(papers), "score distribution")
                 + (_img(_by_year(papers), "score against year") if "year" in papers.column_names else "")
                 + "</div>")
    parts.append("<h2>Convergence</h2>" + _convergence_section(curves, meta))
    if "percentile" in papers.column_names and "citations_percentile" in papers.column_names:
        parts.append("<h2>Percentiles within year and field</h2>" + _percentiles(papers))
    if "trajectories" in tables and tables["trajectories"].num_rows:
        parts.append("<h2>Through time</h2>" + _through_time(tables["trajectories"], papers))
    if "personalized" in tables:
        parts.append("<h2>Seed sets</h2>" + _groups(tables["personalized"], "seed_set", "top papers of"))
    if "credit" in tables:
        parts.append("<h2>Credit</h2>" + _groups(tables["credit"], "target", "credit owed by"))
    if "authors" in tables:
        parts.append("<h2>Authors</h2>" + _table(tables["authors"].slice(0, TOP_ROWS)))
    parts.append("<h2>Stages</h2>" + _stages(meta))
    parts.append("</body></html>\n")
    return "\n".join(parts)


_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>rank-citations report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0 1em; }
th, td { padding: 0.2em 0.7em; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.short { white-space: nowrap; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; } .figs img { max-width: 34em; }
.groups { display: flex; flex-wrap: wrap; gap: 1.5em; } .groups h3 { font-size: 1em; margin-bottom: 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; } dt { font-weight: 600; }
</style></head><body>"""


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"<td class='num'>{v:.6g}</td>"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"<td class='num'>{v}</td>"
    text = "" if v is None else str(v)
    return f"<td{' class=short' if len(text) <= 12 else ''}>{html.escape(text)}</td>"


def _table(table: pa.Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.column_names)
    rows = "".join("<tr>" + "".join(_cell(v) for v in row.values()) + "</tr>" for row in table.to_pylist())
    return f"<table><tr>{head}</tr>{rows}</table>"


def _img(fig: Any, alt: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _distribution(papers: pa.Table) -> Any:
    """Scores against rank on log-log axes (the complementary distribution, read sideways)."""
    import matplotlib.pyplot as plt

    scores = papers.column("score").to_numpy()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    positive = scores[scores > 0]  # sorted best first, as papers.parquet is
    ranks = np.unique(np.geomspace(1, max(1, positive.size), 4000).astype(np.int64))  # even on log axes
    ax.loglog(ranks, positive[ranks - 1], ",")
    ax.set_xlabel("rank")
    ax.set_ylabel("score")
    ax.set_title(f"score distribution ({scores.size:,} papers)")
    ax.grid(True, which="major", alpha=0.3)
    return fig


def _by_year(papers: pa.Table) -> Any:
    import matplotlib.pyplot as plt

    year = papers.column("year").cast(pa.float64()).to_numpy(zero_copy_only=False)
    if "date" in papers.column_names and pa.types.is_date32(papers.schema.field("date").type):
        days = papers.column("date").cast(pa.int32()).cast(pa.float64()).to_numpy(zero_copy_only=False)
        year = np.where(np.isfinite(days), 1970.0 + days / 365.25, year + 0.5)  # the day, where known
    else:  # spread each year's papers over the year, deterministically, so that density shows
        year = year + np.random.default_rng(0).uniform(0.05, 0.95, year.size)
    score = papers.column("score").to_numpy()
    ok = np.isfinite(year) & (score > 0)
    idx = np.flatnonzero(ok)
    if idx.size > MAX_POINTS:
        idx = idx[np.linspace(0, idx.size - 1, MAX_POINTS).astype(np.int64)]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.semilogy(year[idx], score[idx], ",", alpha=0.5)
    ax.set_xlabel("publication year")
    ax.set_ylabel("score")
    ax.set_title("score against publication year")
    ax.grid(True, which="major", alpha=0.3)
    return fig


#: Papers of the last year whose rank trajectories are drawn.
TRAJECTORY_PAPERS = 10


def _through_time(traj: pa.Table, papers: pa.Table) -> str:
    """Rank against year for the last year's top papers, and the papers that rose most."""
    import matplotlib.pyplot as plt

    t = traj.select(["year", "paper_id", "rank"]).to_pydict()
    years = sorted(set(t["year"]))
    ranks: dict[Any, dict[int, int]] = {}
    for y, p, r in zip(t["year"], t["paper_id"], t["rank"]):
        ranks.setdefault(p, {})[y] = r
    last, first = years[-1], years[0]
    top = [p for y, p, r in sorted(zip(t["year"], t["paper_id"], t["rank"]), key=lambda x: x[2])
           if y == last][:TRAJECTORY_PAPERS]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for p in top:
        ys = sorted(ranks[p])
        ax.plot(ys, [ranks[p][y] for y in ys], marker="o", markersize=3, label=str(p))
    ax.set_yscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("year of the record")
    ax.set_ylabel("rank (1 = top)")
    ax.set_title(f"rank trajectories of {last}'s top {len(top)} papers")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    out = _img(fig, "rank trajectories")
    both = [(p, r[first], r[last]) for p, r in ranks.items() if first in r and last in r and first != last]
    both.sort(key=lambda x: (-np.log(x[1] / x[2]), x[2]))
    if both:
        rose = pa.table({"paper_id": [b[0] for b in both[:TOP_ROWS]], f"rank {first}": [b[1] for b in both[:TOP_ROWS]],
                         f"rank {last}": [b[2] for b in both[:TOP_ROWS]]})
        out += (f"<h3>Rose most from {first} to {last}</h3><p>Among papers listed in both years "
                "(each year's top_k in trajectories.parquet), by the ratio of their ranks.</p>" + _table(rose))
    return out


def _percentiles(papers: pa.Table) -> str:
    """PageRank percentile against citation percentile: papers that citation counts under-rate."""
    import matplotlib.pyplot as plt

    pr = papers.column("percentile").to_numpy(zero_copy_only=False).astype(np.float64)
    cp = papers.column("citations_percentile").to_numpy(zero_copy_only=False).astype(np.float64)
    ok = np.flatnonzero(np.isfinite(pr) & np.isfinite(cp))
    if not ok.size:
        return "<p>No paper has a group (every key is null).</p>"
    drawn = ok if ok.size <= MAX_POINTS else ok[np.linspace(0, ok.size - 1, MAX_POINTS).astype(np.int64)]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot(cp[drawn], pr[drawn], ",", alpha=0.4)
    ax.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    ax.set_xlabel("citation percentile within group")
    ax.set_ylabel("score percentile within group")
    ax.set_title("score against citation counts (1 = top of its group)")
    out = _img(fig, "percentiles")
    gap = pr[ok] - cp[ok]
    under = ok[np.argsort(-gap, kind="stable")[:TOP_ROWS]]
    cols = [c for c in ("paper_id", "title", "year", "score", "citations", "percentile", "citations_percentile")
            if c in papers.column_names]
    return out + ("<h3>Under-rated by citation counts</h3><p>The largest gaps between a paper's score percentile "
                  "and its citation percentile within its group.</p>"
                  + _table(papers.select(cols).take(pa.array(under))))


def _convergence_section(curves: dict[str, list[tuple[int, float]]], meta: dict[str, Any]) -> str:
    import matplotlib.pyplot as plt

    tol = meta.get("config", {}).get("rank", {}).get("tol")
    drawn = {k: v for k, v in curves.items() if len(v) > 1}
    notes = [f"{html.escape(k)}: {v[-1][0]} iterations or sweeps, residual {v[-1][1]:.2e} (an exact sweep: "
             "no per-iteration curve)" for k, v in curves.items() if len(v) == 1]
    out = ""
    if drawn:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, pts in list(drawn.items())[:MAX_GROUPS]:
            it, res = zip(*pts)
            ax.semilogy(it, np.maximum(res, 1e-300), label=name)
        if tol:
            ax.axhline(tol, color="k", linestyle="--", linewidth=0.8, label=f"tol {tol:.0e}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("L1 change")
        ax.set_title("convergence (a batch: its largest column)")
        ax.legend(fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
        out += _img(fig, "convergence")
    return out + "".join(f"<p>{n}</p>" for n in notes) + (f"<p>solver: {html.escape(str(meta.get('solver')))}</p>"
                                                          if meta.get("solver") else "")


def _groups(table: pa.Table, key: str, title: str) -> str:
    names = pc.unique(table.column(key)).to_pylist()
    blocks = []
    for name in names[:MAX_GROUPS]:
        rows = table.filter(pc.equal(table.column(key), pa.scalar(name, table.schema.field(key).type)))
        rows = rows.drop_columns([key]).slice(0, 10)
        blocks.append(f"<div><h3>{html.escape(title)} {html.escape(str(name))}</h3>{_table(rows)}</div>")
    more = f"<p>... and {len(names) - MAX_GROUPS} more in the parquet file.</p>" if len(names) > MAX_GROUPS else ""
    return "<div class='groups'>" + "".join(blocks) + "</div>" + more


def _facts(meta: dict[str, Any]) -> str:
    graph = meta.get("graph", {})
    plan = graph.get("plan", {})
    items = [("started", meta.get("started")), ("papers", meta.get("papers")), ("citations", meta.get("citations")),
             ("dangling papers", graph.get("dangling_papers")), ("self-citations", graph.get("self_citations")),
             ("papers on cycles", plan.get("papers_on_cycles")), ("largest component", plan.get("largest_component")),
             ("method", meta.get("method")), ("solver", meta.get("solver")),
             ("device", f"{meta.get('device')} ({meta.get('device_name')})"), ("threads", meta.get("threads")),
             ("global iterations", meta.get("global", {}).get("iterations")),
             ("global residual", meta.get("global", {}).get("residual")),
             ("alpha", meta.get("config", {}).get("rank", {}).get("alpha")),
             ("version", meta.get("versions", {}).get("rank_citations"))]
    body = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(_fact(v))}</dd>" for k, v in items if v is not None)
    return f"<dl>{body}</dl>"


def _fact(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _stages(meta: dict[str, Any]) -> str:
    seconds = meta.get("seconds", {})
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td class='num'>{v:.3f}</td></tr>" for k, v in seconds.items())
    return f"<table><tr><th>stage</th><th>seconds</th></tr>{rows}</table>"
