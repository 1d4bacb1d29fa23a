"""The ``rank-citations`` command: load the job file, run it, report known errors on one line."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ConfigError, RankerError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Rank papers of a citation graph (PageRank, personalized PageRank) from parquet.")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="TOML job file (see configs/).")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Debug log; tracebacks for errors.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
    device: Annotated[Optional[str], typer.Option(help="Override [rank] device: auto, cuda or cpu.")] = None,
) -> None:
    """Run the job described by --config and write its parquet outputs."""
    from .config import load_config  # imported late: `--help` stays fast
    from .pipeline import run_job
    from .report import setup_logging

    rank = os.environ.get("RANK", "0")  # under torchrun: rank 0 logs and reports, the others only warn
    setup_logging(quiet=quiet or (rank != "0" and not debug), debug=debug)
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM unwinds like Ctrl-C: temp files are removed
    try:
        cfg = load_config(config)
        if device is not None:
            if device not in ("auto", "cuda", "cpu"):
                raise ConfigError(f"--device must be one of auto, cuda, cpu; got {device!r}")
            cfg = dataclasses.replace(cfg, rank=dataclasses.replace(cfg.rank, device=device))
        run_job(cfg, show_progress=not no_progress)
    except RankerError as exc:
        if debug:
            raise
        if rank == "0" or getattr(exc, "every_rank", False):  # other ranks' errors reach rank 0's message
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted; no partial output was left under a final name", err=True)
        raise typer.Exit(130) from None
    except MemoryError:
        if debug:
            raise
        typer.echo("error: out of memory (try [rank] dtype = 'float32' or a smaller [personalize] batch_size)",
                   err=True)
        raise typer.Exit(1) from None


def main() -> None:
    """Console-script entry point."""
    app(prog_name="rank-citations")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
