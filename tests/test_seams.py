"""The typed seams: both communicators provide Communicator, both engines provide Engine."""

import torch

from ranker import parse_config
from ranker.job.engines import Engine
from ranker.job.local_engine import LocalEngine
from ranker.job.partitioned_engine import PartitionedEngine
from ranker.parallel.comm import Comm, Communicator, SoloComm


def members(protocol) -> set[str]:
    names = {n for n in vars(protocol) if not n.startswith("_")}
    return names | set(getattr(protocol, "__annotations__", {}))


def provides(cls, protocol) -> set[str]:
    """The protocol's members ``cls`` lacks (as a class attribute, a method or an annotated attribute)."""
    annotated = set()
    for klass in cls.__mro__:
        annotated |= set(getattr(klass, "__annotations__", {}))
    return {m for m in members(protocol) if not hasattr(cls, m) and m not in annotated}


def test_both_communicators_provide_the_protocol():
    assert isinstance(SoloComm("cpu"), Communicator)
    assert provides(Comm, Communicator) == set() and provides(SoloComm, Communicator) == set()
    assert {"phase", "follow_root", "gather_tables", "is_root"} <= members(Communicator)


def test_both_engines_provide_the_protocol(tmp_path):
    # (isinstance would read the n property, which needs an ingested graph: the classes are checked)
    assert provides(LocalEngine, Engine) == set() and provides(PartitionedEngine, Engine) == set()
    assert {"ingest", "order", "rank", "rank_batch", "n"} <= members(Engine)
    cfg = parse_config({"input": {"synthetic": {"papers": 10}}, "rank": {"device": "cpu"},
                        "output": {"dir": str(tmp_path)}})
    assert LocalEngine(cfg, torch.device("cpu")).graph is None
