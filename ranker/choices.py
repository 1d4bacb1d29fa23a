"""Named choices the solvers take and the job file names: defined once, known to both layers.

No imports: the configuration (``ranker.config``, read at the command's start) and the numeric
modules (``ranker.solvers.choose``, ``ranker.solvers.author_rankers``) both take them from here, so the numeric layer
does not import the job file's module.
"""

#: ``method`` of :func:`ranker.solvers.choose.solve` and ``[rank] method``.
METHODS = ("auto", "dag", "power")
#: How an author's share of a paper is counted
#: (:func:`ranker.solvers.author_rankers.counting_weights`, ``[authors] counting``).
COUNTING = ("full", "fractional", "harmonic", "first_last")
