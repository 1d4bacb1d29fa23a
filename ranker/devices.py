"""Which torch device a job runs on: the one rule for ``[rank] device`` and ``--device``."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; ``cuda`` is ``cuda:local_rank`` (modulo the GPUs).

    Raises
    ------
    ConfigError
        ``cuda`` on a machine without a CUDA device.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("[rank] device = 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's (for run metadata)."""
    import platform

    return torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
