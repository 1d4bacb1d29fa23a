"""The job's tables and checks on results: ranked tables, top k per column, excluded ids."""

from __future__ import annotations

import logging
import os
import platform
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from .. import __version__
from ..errors import ConvergenceError, GraphError
from ..io import IdMap
from ..pagerank import PageRankResult

log = logging.getLogger("ranker")


def check_finite(scores: torch.Tensor, what: str) -> None:
    """Refuse to write scores that are not all finite (a defect: say so rather than write NaN)."""
    bad = ~torch.isfinite(scores)
    if bool(bad.any()):
        raise GraphError(f"{what}: {int(bad.sum())} scores are not finite (NaN or infinite); nothing was written. "
                         "This is a bug: please report it with the input")


def convergence_check(result: PageRankResult, names: list[str], tol: float, policy: str) -> None:
    bad = torch.nonzero(~result.converged).flatten().tolist()
    if not bad:
        return
    j = bad[0]
    msg = (f"{len(bad)} of {len(names)} score columns did not converge; first: {names[j]!r} stopped at "
           f"L1 residual {result.residuals[j].item():.3e} > tol {tol:.1e} after {result.iterations[j].item()} "
           "iterations (raise [rank] max_iter or tol, or set on_nonconvergence = 'warn')")
    if policy == "error":
        raise ConvergenceError(msg)
    log.warning(msg)


def ranked_table(ids: pa.Array, scores: np.ndarray, mass: np.ndarray, excluded: np.ndarray | None = None,
                  columns: dict[str, np.ndarray] | None = None) -> pa.Table:
    """Rows sorted by score (descending), ties by id; rank 1 is the highest.

    ``share`` is ``mass`` over its sum across the rows kept; rows whose index is in
    ``excluded`` are left out (and do not count in the shares); ``columns`` are added after ``share``.
    """
    cols = {"paper_id": ids, "score": pa.array(scores, pa.float64())}
    share = mass.astype(np.float64)
    keep = None
    if excluded is not None and excluded.size:
        keep = np.ones(len(scores), dtype=bool)
        keep[excluded] = False
    total = share[keep].sum() if keep is not None else share.sum()
    cols["share"] = pa.array(share / total if total else np.zeros_like(share), pa.float64())
    for k, v in (columns or {}).items():
        cols[k] = pa.array(v, pa.float64())
    table = pa.table(cols)
    if keep is not None:
        table = table.filter(pa.array(keep))
    table = table.sort_by([("score", "descending"), ("paper_id", "ascending")])
    table = table.append_column("rank", pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64)))
    order = ["paper_id", "score", "rank", "share"] + list(columns or {})
    return table.select(order)


def exclude_index(values: tuple, dictionary: pa.Array, kind: str) -> np.ndarray:
    """Indices in ``dictionary`` of the ``[output] exclude_ids`` of its kind (the list may mix
    paper and author ids: the other kind's and unknown ids are skipped)."""
    want = int if kind == "integer" else str
    mine = [v for v in values if isinstance(v, want)]
    if not mine:
        return np.zeros(0, np.int64)
    arr = pa.array(mine, pa.int64() if kind == "integer" else pa.large_string()).cast(dictionary.type)
    idx = pc.index_in(arr, value_set=dictionary).to_numpy(zero_copy_only=False)
    return idx[~np.isnan(idx)].astype(np.int64) if idx.dtype.kind == "f" else idx.astype(np.int64)


def top_k(scores: torch.Tensor, k: int, ids: IdMap | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows of each column, ties broken by paper id (by index when ``ids`` is None).

    Returns
    -------
    index, value : numpy.ndarray
        ``[k, B]`` paper indices and their scores (float64), best first.
    """
    n, n_cols = scores.shape
    k = min(k, n)
    s = scores.to(torch.float64).cpu()
    # Exact tie-breaking: find the k-th value per column, keep every row >= it, sort those.
    kth = torch.topk(s, k, dim=0).values[-1]
    idx_out = np.empty((k, n_cols), np.int64)
    val_out = np.empty((k, n_cols), np.float64)
    for b in range(n_cols):
        cand = torch.nonzero(s[:, b] >= kth[b]).flatten().numpy()
        vals = s[cand, b].numpy()
        if ids is None:
            order = np.lexsort((cand, -vals))[:k]
        else:
            t = pa.table({"i": cand, "s": vals, "id": ids.output_ids(cand)})
            order = pc.sort_indices(t, [("s", "descending"), ("id", "ascending")]).to_numpy()[:k]
        idx_out[:, b] = cand[order]
        val_out[:, b] = vals[order]
    return idx_out, val_out


def auto_batch(n: int, dtype: torch.dtype, device: torch.device, n_sets: int) -> int:
    """Seed sets per batch: what fits in a quarter of free memory at ~5 dense columns each."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-Linux
            free = 4 << 30
    per_col = max(1, n) * torch.finfo(dtype).bits // 8 * 5
    return int(max(1, min(n_sets, 256, (free // 4) // per_col)))


def walk_settings(rank_cfg: Any) -> dict[str, Any]:
    """``alpha``, ``tol`` and ``max_iter`` of ``[rank]``, as the solvers take them."""
    return {"alpha": rank_cfg.alpha, "tol": rank_cfg.tol, "max_iter": rank_cfg.max_iter}


def versions() -> dict[str, str]:
    """Versions of this package and of the libraries whose numbers it reports (run metadata)."""
    return {"rank_citations": __version__, "torch": torch.__version__, "pyarrow": pa.__version__,
            "numpy": np.__version__, "python": platform.python_version()}
