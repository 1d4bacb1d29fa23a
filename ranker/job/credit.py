"""The credit stage: who a target's impact is owed to, among the papers it builds on and their authors."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from ..errors import InputError
from ..io import IdMap, id_kind, open_parquet, read_columns
from ..progress import progress_bar
from ..solvers.author_rankers import author_scores, counting_weights
from .batches import BatchTicker
from .checks import convergence_check
from .context import JobContext, Target
from .exclusions import exclude_index
from .local_engine import single_process_engine
from .solve_options import auto_batch
from .tables import top_k

log = logging.getLogger("ranker")



def read_targets(ctx: JobContext) -> list[Target]:
    """``[credit] targets`` in file order, each target once; checked against the graph and the authors.

    Raises
    ------
    InputError
        A null target, a ``kind`` other than paper/author, an author target without
        authorships, or an id that is not a paper of the graph (an author), naming file,
        column and row.
    """
    cr, ids, auth = ctx.cfg.credit, ctx.ids, ctx.authorships
    assert cr is not None and ids is not None
    a_weight = counting_weights(auth.paper, auth.position, ctx.cfg.authors.counting) if auth is not None else None
    src = open_parquet(cr.targets, {cr.target_column: "id"}, role="targets")
    has_kind = "kind" in src.file.schema_arrow.names
    table = read_columns(src, [cr.target_column] + (["kind"] if has_kind else []))
    raw = table.column(0).combine_chunks()
    kinds = table.column(1).to_pylist() if has_kind else ["paper"] * len(raw)
    out, seen = [], set()
    for i, (value, kind) in enumerate(zip(raw.to_pylist(), kinds)):
        at = f"{cr.targets}, column {cr.target_column!r}, row {i}"
        if value is None:
            raise InputError(f"{at}: null target")
        if kind not in ("paper", "author"):
            raise InputError(f"{cr.targets}, column 'kind', row {i}: must be 'paper' or 'author', got {kind!r}")
        if kind == "author" and auth is None:
            raise InputError(f"{at}: author target {value!r} needs [input] authorships")
        dictionary = ids.ids if kind == "paper" or auth is None else auth.authors
        want = str if (id_kind(dictionary.type) or "string") == "string" else int
        try:
            idx = (pc.index_in(pa.array([value], dictionary.type), value_set=dictionary)[0].as_py()
                   if isinstance(value, want) else None)
        except (pa.ArrowInvalid, OverflowError):  # an unsigned id beyond int64: in no graph
            idx = None
        if idx is None:
            what = "a paper of the citation graph" if kind == "paper" else "an author"
            raise InputError(f"{at}: target {value!r} is not {what}")
        if (kind, idx) in seen:
            continue
        seen.add((kind, idx))
        if kind == "paper":
            out.append(Target(kind, idx, np.array([idx]), np.ones(1)))
        else:
            assert auth is not None and a_weight is not None
            rows = np.flatnonzero(auth.author == idx)
            out.append(Target(kind, idx, auth.paper[rows], a_weight[rows]))
    return out


def assign_credit(ctx: JobContext) -> None:
    """Credit for each target's impact, owed to the papers it builds on and to their authors.

    A personalized walk restarting at the target paper (or at an author's papers, by their
    counting-rule share) and following references, batched over targets. The target's own
    papers (and, for an author target, the author) and excluded ids are set aside; each
    remaining paper's share is its score over the credit that left the target, and authors
    share their papers' credit under ``[authors] counting``. Stages credit.parquet.
    """
    cfg, ids, auth, targets = ctx.cfg, ctx.ids, ctx.authorships, ctx.targets
    cr = cfg.credit
    assert cr is not None and ids is not None and targets is not None
    a_weight, a_kind, a_excl = None, ids.kind, np.zeros(0, np.int64)
    if auth is not None:
        a_weight = counting_weights(auth.paper, auth.position, cfg.authors.counting)
        a_kind = id_kind(auth.authors.type) or "string"
        a_excl = exclude_index(cfg.output.exclude_ids, auth.authors, a_kind)
    p_excl = torch.from_numpy(ctx.excluded)
    id_type = (pa.int64() if ids.kind == "integer" else pa.string()) if a_kind == ids.kind else pa.string()
    rank_cfg = cfg.rank
    engine = single_process_engine(ctx, "[credit]")
    batch = auto_batch(engine.n, engine.dtype, engine.device, len(targets))
    tables, no_credit = [], 0
    n_batches = (len(targets) + batch - 1) // batch
    ticker = BatchTicker("credit", n_batches, unit="targets")

    def name_of(t: Target) -> pa.Array:
        if t.kind == "paper":
            return ids.output_ids(np.array([t.index]))
        assert auth is not None
        return auth.authors.take([t.index])

    with progress_bar("credit", n_batches, enabled=ctx.show) as advance:
        for lo in range(0, len(targets), batch):
            chunk = targets[lo:lo + batch]
            set_idx = np.concatenate([np.full(len(t.papers), j) for j, t in enumerate(chunk)])
            seeds = (set_idx, np.concatenate([t.papers for t in chunk]), np.concatenate([t.weights for t in chunk]))
            res = engine.solve_columns(seeds, len(chunk))
            convergence_check(res, [str(name_of(t)[0]) for t in chunk], rank_cfg.tol, rank_cfg.on_nonconvergence)
            x = res.scores.to(torch.float64)
            x[torch.from_numpy(seeds[1]), torch.from_numpy(set_idx)] = 0.0  # the target's own papers
            if p_excl.numel():
                x[p_excl] = 0.0
            views = [("paper", x, ids)]
            if auth is not None and a_weight is not None:
                ax = author_scores(auth.paper, auth.author, a_weight, x, len(auth.authors))
                for j, t in enumerate(chunk):
                    if t.kind == "author":
                        ax[t.index, j] = 0.0  # an author owes nothing to themself
                if a_excl.size:
                    ax[torch.from_numpy(a_excl)] = 0.0
                views.append(("author", ax, IdMap(auth.authors, a_kind)))
            rows, none = credit_rows(chunk, views, cr.top_k, id_type, name_of)
            tables += rows
            no_credit += none
            advance(1)
            ticker.tick(len(chunk), iterations=int(res.iterations.max()))
    schema = pa.schema([("target", id_type), ("target_kind", pa.string()), ("credited", id_type),
                        ("kind", pa.string()), ("score", pa.float64()), ("share", pa.float64()), ("rank", pa.int64())])
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    facts = {"targets": len(targets), "targets_without_references": int(no_credit), "top_k": cr.top_k,
             "authors": auth is not None}
    if no_credit:
        log.info("credit: %d target(s) cite nothing reachable, so owe no credit", no_credit)
    ctx.meta["credit"] = facts
    ctx.write_table("credit", table, credit=facts)


def credit_rows(chunk: list[Target], views: list[tuple[str, torch.Tensor, IdMap]], k: int, id_type: pa.DataType,
                name_of: Any) -> tuple[list[pa.Table], int]:
    """One batch's rows of credit.parquet: for each target and each view (papers, authors), the ``k``
    best credited with score, share of the credit that left the target, and rank; and how many
    targets owe no paper any credit."""
    tables, no_credit = [], 0
    for kind, scores, dictionary in views:
        tot = scores.sum(0)
        top, val = top_k(scores, k, dictionary)
        for j, t in enumerate(chunk):
            keep = val[:, j] > 0
            if not keep.any() or tot[j] <= 0:
                no_credit += kind == "paper"
                continue
            m = int(keep.sum())
            tables.append(pa.table({
                "target": pa.concat_arrays([name_of(t).cast(id_type)] * m),
                "target_kind": pa.array([t.kind] * m, pa.string()),
                "credited": dictionary.output_ids(top[keep, j]).cast(id_type),
                "kind": pa.array([kind] * m, pa.string()),
                "score": pa.array(val[keep, j], pa.float64()),
                "share": pa.array(val[keep, j] / float(tot[j]), pa.float64()),
                "rank": pa.array(np.arange(1, m + 1, dtype=np.int64)),
            }))
    return tables, no_credit
