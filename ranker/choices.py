"""Named choices the solvers take and the job file names: defined once, known to both layers.

No imports: the configuration (``ranker.config``, read at the command's start) and the numeric
modules (``ranker.solve``, ``ranker.authors``) both take them from here, so the numeric layer
does not import the job file's module.
"""

#: ``method`` of :func:`ranker.solve.solve` and ``[rank] method``.
METHODS = ("auto", "dag", "power")
#: How an author's share of a paper is counted (:func:`ranker.authors.authorship_weights`, ``[authors] counting``).
COUNTING = ("full", "fractional", "harmonic", "first_last")
