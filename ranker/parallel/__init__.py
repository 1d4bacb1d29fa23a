"""Past one process: communicators, the graph in row blocks, and PageRank over them.

Modules
-------
comm
    :class:`SoloComm` (one process: every collective the identity) and :class:`Comm` (a
    torch.distributed process group started by ``torchrun``), with the same interface.
partition
    :class:`PartitionedGraph` (this rank's row block), hash owners of ids, :class:`PartitionedIds`
    (collective id lookups).
ingest
    :func:`read_partitioned`: streaming ingest into contiguous row blocks, ids numbered by their
    hash owners, each citation sent to its cited paper's block.
pagerank
    :func:`partitioned_pagerank`: :func:`ranker.solvers.power.iterate` with the row-block hooks.
"""
