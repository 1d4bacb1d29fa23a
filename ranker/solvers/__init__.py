"""The numeric layer: pure functions over CSR tensors that return tensors.

No files, ids or job file here; each module is named for what it holds, none for a function it
exports.

=====================  ==========================================================================
module                 what it holds
=====================  ==========================================================================
``iteration``          the iteration every solver runs: columns leaving as they converge, Aitken
                       jumps, the float32 start (:func:`~ranker.solvers.iteration.iterate`)
``power``              PageRank's teleports and checks, global and batched personalized PageRank
                       by power iteration (:func:`~ranker.solvers.power.pagerank`)
``components``         the condensation plan: strongly connected components in topological order
``dag``                the exact sweep over that plan (:func:`~ranker.solvers.dag.dag_pagerank`)
``choose``             ``method = auto | dag | power``: one entry point over both
                       (:func:`~ranker.solvers.choose.solve`)
``paper_rankers``      CiteRank's teleport, ArticleRank, rescaled PageRank
``author_rankers``     author credit from paper scores, author graphs, CoRanking
``snapshots``          every year's citation record ranked in one batched solve
=====================  ==========================================================================
"""
