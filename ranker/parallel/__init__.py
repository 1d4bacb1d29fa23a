"""Past one process: communicators, the graph in row blocks, and PageRank over them.

Modules
-------
comm
    :class:`SoloComm` (one process: every collective the identity) and :class:`Comm` (a
    torch.distributed process group started by ``torchrun``), with the same interface.
partition
    :func:`read_partitioned`: streaming ingest into contiguous row blocks, ids numbered by hash
    owners; :class:`PartitionedGraph`; :class:`PartitionedIds` (collective id lookups).
pagerank
    :func:`partitioned_pagerank`: :func:`ranker.pagerank.iterate` with the row-block hooks.
"""
