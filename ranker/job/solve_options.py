"""What the job file says to the solvers: the walk's settings, and how many columns a batch holds."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch

log = logging.getLogger("ranker")

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
