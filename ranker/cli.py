"""The ``rank-citations`` command: load the job file, run it, report known errors on one line.

:func:`main` installs the signal handlers before anything heavy is imported, so an interrupt
or a SIGTERM at any moment, start-up included, ends with one line and exit status 130. The
typer application is built by :func:`build_app` (``ranker.cli.app`` builds it on first use).
"""

import os
import signal
import sys

INTERRUPTED = "error: interrupted; no partial output was left under a final name"


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class _signals_deferred:
    """Hold SIGINT and SIGTERM while torch and numpy are imported; a signal that came meanwhile is
    delivered on leaving, as the usual one-line interrupt. (Raised inside numpy's extension import,
    the interrupt leaves numpy half-loaded and surfaces as an ImportError or RecursionError.)"""

    held = {signal.SIGINT, signal.SIGTERM}

    def __enter__(self) -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, self.held)

    def __exit__(self, *exc: object) -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.held)


def build_app():
    """The typer application (imported here: ``import ranker.cli`` stays light)."""
    from pathlib import Path
    from typing import Annotated, Optional

    import typer

    from .errors import ConfigError, RankerError

    app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                      help="Rank papers of a citation graph (PageRank, personalized PageRank) from parquet.")

    @app.command()
    def run(
        config: Annotated[Path, typer.Option("--config", "-c", help="TOML job file (see configs/).")],
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
        debug: Annotated[bool, typer.Option("--debug", help="Debug log; tracebacks for errors.")] = False,
        no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
        device: Annotated[Optional[str], typer.Option(help="Override the job's device: auto, cuda or cpu.")] = None,
    ) -> None:
        """Run the job described by --config and write its parquet outputs."""
        rank = os.environ.get("RANK", "0")  # under torchrun: rank 0 logs and reports, the others only warn
        signal.signal(signal.SIGTERM, _terminate)  # SIGTERM unwinds like Ctrl-C: temp files are removed
        try:
            with _signals_deferred():  # imported late (`--help` stays fast), and whole
                from .config import DEVICES, load_config
                from .job import run_job
                from .report import setup_logging

            setup_logging(quiet=quiet or (rank != "0" and not debug), debug=debug)
            cfg = load_config(config)
            if device is not None:
                if device not in DEVICES:
                    raise ConfigError(f"--device must be one of {', '.join(DEVICES)}; got {device!r}")
                import dataclasses

                cfg = dataclasses.replace(cfg, rank=dataclasses.replace(cfg.rank, device=device))
            run_job(cfg, show_progress=not no_progress)
        except RankerError as exc:
            if debug:
                raise
            if rank == "0" or getattr(exc, "every_rank", False):  # other ranks' errors reach rank 0's message
                typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            _report_interrupt()
            raise typer.Exit(130) from None
        except MemoryError:
            if debug:
                raise
            typer.echo("error: out of memory (try [rank] dtype = 'float32' or a smaller [personalize] batch_size)",
                       err=True)
            raise typer.Exit(1) from None

    return app


def __getattr__(name: str):
    if name == "app":  # `from ranker.cli import app`: tests and notebooks drive the same application
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_reported = []


def _report_interrupt() -> None:
    if not _reported:
        print(INTERRUPTED, file=sys.stderr, flush=True)
        _reported.append(True)


def main() -> None:
    """Console-script entry point: signals first, then the (heavy) application."""
    try:
        signal.signal(signal.SIGTERM, _terminate)  # inside the try: no moment is left uncovered after it
        build_app()(prog_name="rank-citations")
    except KeyboardInterrupt:  # before the application is in place (still importing)
        _report_interrupt()
        sys.exit(130)
    except SystemExit as exc:  # typer turns an interrupt outside the job into a silent exit 130
        if exc.code == 130:
            _report_interrupt()
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
