"""What the job file says to the solvers: the walk's settings, and how many columns a batch holds."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

log = logging.getLogger("ranker")

def free_memory(device: torch.device) -> int:
    """Bytes free on ``device``: the GPU's, or the host's available pages (4 GiB when unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-Linux
        return 4 << 30


def auto_batch(n: int, dtype: torch.dtype, device: torch.device, n_sets: int) -> int:
    """Seed sets per batch: what fits in a quarter of free memory at ~5 dense columns each."""
    per_col = max(1, n) * torch.finfo(dtype).bits // 8 * 5
    return int(max(1, min(n_sets, 256, (free_memory(device) // 4) // per_col)))


def local_width(n: int, n_sets: int) -> int:
    """Seed sets per forward sweep of :func:`ranker.solvers.local.local_pagerank_sets`: its ``GROUP``,
    fewer when their scratch would take more than a quarter of the host's free memory."""
    from ..solvers.local import GROUP, scratch_bytes

    width = min(GROUP, max(1, n_sets))
    budget = free_memory(torch.device("cpu")) // 4
    while width > 1 and scratch_bytes(n, width) > budget:
        width //= 2
    return width


def walk_settings(rank_cfg: Any) -> dict[str, Any]:
    """``alpha``, ``tol`` and ``max_iter`` of ``[rank]``, as the solvers take them."""
    return {"alpha": rank_cfg.alpha, "tol": rank_cfg.tol, "max_iter": rank_cfg.max_iter}
