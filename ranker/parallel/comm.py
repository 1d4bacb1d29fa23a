"""Communicators: the collectives a job uses, on one process or on many.

:class:`SoloComm` is one process: rank 0 of 1, every collective the identity, every phase a
plain block. :class:`Comm` is one of several processes that ``torchrun`` started, joined by a
torch.distributed process group (NCCL between GPUs, gloo between CPU processes). The job
runs the same code over either (:mod:`ranker.job`), as Lightning Fabric's single-device and
DDP strategies serve one training loop. A collective that fails (a peer died) becomes a
:class:`DistributedError`; :meth:`Comm.phase` makes every rank stop together, with the first
failing rank's message, when one rank hits an error in local work.
"""


from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import torch
import torch.distributed as dist

from ..devices import resolve_device
from ..errors import ConfigError, ConvergenceError, GraphError, InputError, RankerError

log = logging.getLogger("ranker")


@runtime_checkable
class Communicator(Protocol):
    """What the job asks of its communicator; :class:`SoloComm` and :class:`Comm` provide it.

    ``rank`` of ``world_size`` processes, rank 0 the root that writes files; ``device`` where the
    graph lives; ``phase(name)`` a block every rank leaves together (the first failure's message
    on every rank); ``follow_root(flag)`` rank 0's decision on every rank; the collectives over
    integers, tensors and Arrow tables; ``bytes_sent`` for the run's metadata.
    """

    rank: int
    world_size: int
    device: torch.device
    backend: str
    bytes_sent: int

    @property
    def is_root(self) -> bool: ...
    def close(self) -> None: ...
    def phase(self, name: str) -> Any: ...
    def follow_root(self, flag: bool) -> bool: ...
    def all_gather_object(self, obj: Any) -> list[Any]: ...
    def sum_in_rank_order(self, partial: torch.Tensor) -> torch.Tensor: ...
    def sum_ints(self, values: list[int]) -> list[int]: ...
    def all_gather_ints(self, values: list[int]) -> np.ndarray: ...
    def all_reduce_(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor: ...
    def all_gather_rows(self, block: torch.Tensor, rows: int) -> torch.Tensor: ...
    def all_to_all(self, parts: list[torch.Tensor]) -> list[torch.Tensor]: ...
    def all_to_all_tables(self, tables: list[pa.Table]) -> list[pa.Table]: ...
    def gather_tables(self, table: pa.Table) -> list[pa.Table] | None: ...



class DistributedError(RankerError):
    """A rank failed or stopped answering; every rank exits non-zero and no output is committed."""


_ERRORS: dict[str, type[RankerError]] = {c.__name__: c for c in
                                         (ConfigError, InputError, GraphError, ConvergenceError, DistributedError)}


def launched() -> bool:
    """True when this process is one of several started by ``torchrun`` (``WORLD_SIZE`` > 1)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


# --------------------------------------------------------------------------- communication


@dataclass
class Comm:
    """This process's place in the job and the collectives the job uses.

    Attributes
    ----------
    rank, world_size : int
    device : torch.device
        Where the graph and the scores live (``cuda:LOCAL_RANK`` or CPU).
    backend : str
        ``nccl`` (device CUDA) or ``gloo`` (CPU).
    stage : str
        What the job is doing, for messages.
    bytes_sent : int
        Bytes this rank put on its links in collectives, counted as ring algorithms move them
        (``all_gather``: ``W - 1`` times the block); run metadata.
    """

    rank: int
    world_size: int
    device: torch.device
    backend: str
    owns_group: bool = False
    stage: str = "start"
    bytes_sent: int = 0
    group: Any = None

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    @property
    def comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    @classmethod
    def from_env(cls, device_name: str = "auto", timeout_s: float = 1800.0) -> "Comm":
        """Join (or reuse) the process group that ``torchrun`` describes in the environment.

        ``device_name`` ``auto`` gives ``cuda:LOCAL_RANK`` with NCCL when CUDA is available,
        else the CPU with gloo.
        """
        device = resolve_device(device_name, int(os.environ.get("LOCAL_RANK", "0")))
        if device.type == "cuda":
            torch.cuda.set_device(device)
            backend = "nccl"
        else:
            backend = "gloo"
        owns = False
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
            except (RuntimeError, ValueError) as exc:
                raise DistributedError(f"cannot join the process group ({_first_line(exc)}); launch with "
                                       "torchrun, which sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT") from None
            owns = True
        else:
            backend = dist.get_backend()
        return cls(rank=dist.get_rank(), world_size=dist.get_world_size(), device=device, backend=backend,
                   owns_group=owns)

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False

    # -- failure handling

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a failed collective into a one-line :class:`DistributedError`."""
        try:
            yield
        except RankerError:
            raise
        except (RuntimeError, OSError, ValueError) as exc:
            err = DistributedError(f"rank {self.rank}: lost contact with another rank during {self.stage} "
                                   f"({_first_line(exc)}); see the other ranks' messages")
            err.every_rank = True  # type: ignore[attr-defined]  # rank 0 may be the one that died
            raise err from exc

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Local work (no collectives inside) after which all ranks agree on success.

        If any rank raised, every rank raises: the failing rank its own error, the others the
        same kind of error with the first failing rank's message (``rank k: ...``), so that
        all stop together and rank 0 can report it.
        """
        self.stage = name
        err: BaseException | None = None
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
            err = exc
        mine = None if err is None else (type(err).__name__, str(err))
        everyone = self.all_gather_object(mine)
        failed = [(r, m) for r, m in enumerate(everyone) if m is not None]
        if err is not None:
            raise err
        if failed:
            r, (kind, msg) = failed[0]
            if kind not in _ERRORS:  # not a user-facing error: name it
                raise DistributedError(f"rank {r} failed during {name}: {kind}: {msg}")
            raise _ERRORS[kind](msg if msg.startswith("rank ") else f"rank {r}: {msg}")

    # -- collectives

    def all_gather_object(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        with self.guard():
            dist.all_gather_object(out, obj)
        return out

    def sum_in_rank_order(self, partial: torch.Tensor) -> torch.Tensor:
        """Every rank's float64 ``partial`` (same shape everywhere) added in rank order: the same
        bits on every rank, so every rank takes the same decisions from it."""
        parts = torch.empty((self.world_size,) + tuple(partial.shape), dtype=torch.float64, device=partial.device)
        with self.guard():
            dist.all_gather(list(parts.unbind(0)), partial.to(torch.float64).contiguous())
        out = parts[0].clone()
        for q in range(1, self.world_size):
            out += parts[q]
        return out

    def sum_ints(self, values: list[int]) -> list[int]:
        t = torch.tensor(values, dtype=torch.int64, device=self.comm_device)
        with self.guard():
            dist.all_reduce(t)
        return [int(v) for v in t.cpu()]

    def all_gather_ints(self, values: list[int]) -> np.ndarray:
        """``int64 [W, len(values)]``: every rank's values."""
        t = torch.tensor(values, dtype=torch.int64, device=self.comm_device)
        out = torch.empty((self.world_size, len(values)), dtype=torch.int64, device=self.comm_device)
        with self.guard():
            dist.all_gather(list(out.unbind(0)), t)
        return out.cpu().numpy()

    def all_reduce_(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        """In-place all_reduce (``op`` ``"sum"`` or ``"max"``) of a tensor on any device; returns it."""
        buf = t.to(self.comm_device)
        with self.guard():
            dist.all_reduce(buf, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        self.bytes_sent += buf.nbytes
        if buf is not t:
            t.copy_(buf)
        return t

    def all_gather_rows(self, block: torch.Tensor, rows: int) -> torch.Tensor:
        """Every rank's ``block [m_r, B]``, each padded to ``rows`` rows, stacked in rank order:
        ``[W * rows, B]`` on the block's device (one ``all_gather``)."""
        send = torch.zeros((rows, block.shape[1]), dtype=block.dtype, device=block.device)
        send[:block.shape[0]] = block
        out = torch.empty((self.world_size, rows, block.shape[1]), dtype=block.dtype, device=block.device)
        with self.guard():
            dist.all_gather(list(out.unbind(0)), send)
        self.bytes_sent += (self.world_size - 1) * send.nbytes  # what a ring all_gather puts on this rank's links
        return out.view(self.world_size * rows, block.shape[1])

    def all_to_all(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        """Send ``parts[r]`` (1-D, one dtype) to rank ``r``; returns what each rank sent here, by rank,
        on the CPU (ingest work is host work; the graph moves to its device when built)."""
        assert len(parts) == self.world_size
        dtype = parts[0].dtype
        send_sizes = [int(p.numel()) for p in parts]
        with self.guard():
            sizes = torch.tensor(send_sizes, dtype=torch.int64, device=self.comm_device)
            recv_sizes = torch.empty_like(sizes)
            dist.all_to_all_single(recv_sizes, sizes)
            recv = recv_sizes.cpu().tolist()
            send = torch.cat([p.reshape(-1) for p in parts]).to(self.comm_device)
            out = torch.empty(sum(recv), dtype=dtype, device=self.comm_device)
            dist.all_to_all_single(out, send, recv, send_sizes)  # every rank calls it, empty or not
        self.bytes_sent += send.nbytes
        return list(torch.split(out.cpu(), recv))

    def all_to_all_tables(self, tables: list[pa.Table]) -> list[pa.Table]:
        """Arrow tables to each rank (IPC bytes over :meth:`all_to_all`)."""
        got = self.all_to_all([_to_bytes(t) for t in tables])
        return [_from_bytes(b) for b in got]

    def gather_tables(self, table: pa.Table) -> list[pa.Table] | None:
        """Every rank's table on rank 0 (by rank), None elsewhere; only rank 0 receives."""
        payload = _to_bytes(table)
        sizes = self.all_gather_ints([int(payload.numel())])[:, 0]
        width = int(sizes.max())
        buf = torch.zeros(width, dtype=torch.uint8, device=self.comm_device)
        buf[:payload.numel()] = payload.to(self.comm_device)
        out = ([torch.empty(width, dtype=torch.uint8, device=self.comm_device) for _ in range(self.world_size)]
               if self.is_root else None)
        with self.guard():
            dist.gather(buf, out, dst=0)  # padded to the largest: gloo gathers equal sizes
        self.bytes_sent += buf.nbytes
        if out is None:
            return None
        return [_from_bytes(o[:int(s)]) for o, s in zip(out, sizes)]

    def follow_root(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (rank 0 sees the output directory; the others follow it)."""
        t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=self.comm_device)
        with self.guard():
            dist.broadcast(t, 0)
        return bool(t.item())


class SoloComm:
    """One process: rank 0 of 1. Every collective is the identity and every phase a plain block,
    so the job's code for many processes runs unchanged (and bit for bit as before) on one.

    Same interface as :class:`Comm`.
    """

    rank = 0
    world_size = 1
    backend = "none"
    is_root = True
    device: torch.device
    stage: str
    bytes_sent: int

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.stage = "start"
        self.bytes_sent = 0

    @property
    def comm_device(self) -> torch.device:
        return self.device

    def close(self) -> None:
        pass

    @contextmanager
    def guard(self) -> Iterator[None]:
        yield

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.stage = name
        yield

    def all_gather_object(self, obj: Any) -> list[Any]:
        return [obj]

    def sum_in_rank_order(self, partial: torch.Tensor) -> torch.Tensor:
        return partial.to(torch.float64).clone()

    def sum_ints(self, values: list[int]) -> list[int]:
        return [int(v) for v in values]

    def all_gather_ints(self, values: list[int]) -> np.ndarray:
        return np.asarray([values], dtype=np.int64).reshape(1, len(values))

    def all_reduce_(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        return t

    def all_gather_rows(self, block: torch.Tensor, rows: int) -> torch.Tensor:
        if block.shape[0] == rows:
            return block
        out = block.new_zeros((rows, block.shape[1]))
        out[:block.shape[0]] = block
        return out

    def all_to_all(self, parts: list[torch.Tensor]) -> list[torch.Tensor]:
        return [p.reshape(-1).cpu() for p in parts]

    def all_to_all_tables(self, tables: list[pa.Table]) -> list[pa.Table]:
        return list(tables)

    def gather_tables(self, table: pa.Table) -> list[pa.Table] | None:
        return [table]

    def follow_root(self, flag: bool) -> bool:
        return flag


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _to_bytes(table: pa.Table) -> torch.Tensor:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    buf = sink.getvalue()
    return torch.frombuffer(bytearray(buf.to_pybytes()), dtype=torch.uint8) if buf.size else torch.empty(0,
                                                                                                        dtype=torch.uint8)


def _from_bytes(t: torch.Tensor) -> pa.Table:
    data = t.cpu().numpy().tobytes()
    return pa.ipc.open_stream(pa.BufferReader(data)).read_all()

