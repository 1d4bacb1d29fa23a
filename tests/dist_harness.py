"""Local process groups for the tests (:mod:`ranker.parallel.spawn`), and a way to make a rank die."""

from __future__ import annotations

import os

from ranker.parallel.spawn import Ranks, free_port, run_once

__all__ = ["Ranks", "die_on_call", "free_port", "run_once"]


def die_on_call(module, name: str, call: int, code: int = 17) -> None:
    """Make ``module.name`` end this process (``os._exit(code)``, as a crash would) on its ``call``-th call."""
    real, calls = getattr(module, name), [0]

    def dying(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            os._exit(code)
        return real(*args, **kwargs)

    setattr(module, name, dying)
