"""The job: a list of stages run over a communicator, on one process or under ``torchrun``.

Modules
-------
runner
    :func:`run_job`: the communicator, the engine, the output directory, the stage loop, the commit.
stages
    :data:`STAGES`, the job in order, and what each stage needs (rank 0 alone or every rank;
    one process or many).
engines
    :class:`LocalEngine` (the whole graph here) and :class:`PartitionedEngine` (row blocks over
    the ranks): the only place where one process and many differ.
context
    :class:`JobContext`, what the stages share.
tables, personalize, authors, credit
    The stages' tables and the larger stages.
"""

from .runner import RunResult, run_job, validate_job

__all__ = ["RunResult", "run_job", "validate_job"]
