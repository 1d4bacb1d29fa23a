"""Run functions on W local processes joined by a gloo process group, as torchrun would start them.

For tests, benchmarks and notebooks that try a distributed job on one machine without torchrun.

Each process gets the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT). :class:`Ranks` keeps a group of processes alive across calls (cheap enough for
hypothesis); :func:`run_once` starts a fresh group for one call (for tests that kill a rank).
A call returns, by rank, ``("ok", value)`` or ``("error", class name, message, traceback)``,
or None for a process that died.
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environ(rank: int, world_size: int, port: int) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import torch

    torch.set_num_threads(1)


def _call(fn: Callable[..., Any], args: tuple) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        return ("error", type(exc).__name__, str(exc), traceback.format_exc())


def _serve(rank: int, world_size: int, port: int, tasks: Any, results: Any) -> None:
    _environ(rank, world_size, port)
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    while True:
        item = tasks[rank].get()
        if item is None:
            break
        results.put((rank, _call(*item)))
    dist.destroy_process_group()


class Ranks:
    """``world_size`` processes in one gloo group, serving calls until :meth:`close`."""

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        ctx = mp.get_context("spawn")
        self.tasks = [ctx.Queue() for _ in range(world_size)]
        self.results = ctx.Queue()
        port = free_port()
        self.procs = [ctx.Process(target=_serve, args=(r, world_size, port, self.tasks, self.results), daemon=True)
                      for r in range(world_size)]
        for p in self.procs:
            p.start()

    def run(self, fn: Callable[..., Any], *args: Any, timeout: float = 120.0) -> list:
        for q in self.tasks:
            q.put((fn, args))
        out: list = [None] * self.world_size
        deadline = time.monotonic() + timeout
        for _ in range(self.world_size):
            try:
                r, res = self.results.get(timeout=max(1.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"ranks did not answer within {timeout} s") from None
            out[r] = res
        return out

    def close(self) -> None:
        for q in self.tasks:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


def _once(rank: int, world_size: int, port: int, out: str, fn: Callable[..., Any], args: tuple) -> None:
    _environ(rank, world_size, port)
    result = _call(fn, args)
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    Path(out, f"rank{rank}.pkl").write_bytes(pickle.dumps(result))


def run_once(world_size: int, fn: Callable[..., Any], *args: Any, timeout: float = 120.0) -> list:
    """``fn(*args)`` on a fresh group of ``world_size`` processes (``fn`` joins the group itself).

    Unlike torch's spawn, a rank that dies does not take the others down: each is left to
    notice (or not) on its own, as with separate machines.
    """
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as out:
        port = free_port()
        procs = [ctx.Process(target=_once, args=(r, world_size, port, out, fn, args), daemon=True)
                 for r in range(world_size)]
        for p in procs:
            p.start()
        deadline = time.monotonic() + timeout
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
        if any(p.is_alive() for p in procs):
            for p in procs:
                p.kill()
            raise TimeoutError(f"ranks still running after {timeout} s")
        return [pickle.loads(Path(out, f"rank{r}.pkl").read_bytes()) if Path(out, f"rank{r}.pkl").exists() else None
                for r in range(world_size)]
