"""The ``rank-citations`` command: load the job file, run it, report known errors on one line.

:func:`main` installs the signal handlers before anything heavy is imported, so an interrupt
or a SIGTERM at any moment, start-up included, ends with one line and exit status 130. The
typer application is built by :func:`build_app` (``ranker.cli.app`` builds it on first use).

In the process :func:`main` runs (and only there: ``ranker.cli.app`` driven in a notebook or a
test leaves the collector alone), Python's cyclic garbage collector is kept off the objects
that live as long as the process. Importing torch, numpy, pyarrow and numba makes about 280,000
of them, and each full collection walks them all: on a job of a few seconds that was 0.5 s of
collections while it ran and about 0.85 s more in the interpreter's shutdown (1.0-1.15 s
against 0.17-0.23 s; BENCHMARKS.md, session 15). So the collector is paused while the modules
are imported, what they made is then frozen out of every later collection (:func:`gc.freeze`,
the pattern its documentation gives for long-lived start-up objects), and what is alive when
the job is done is frozen before the interpreter ends. The job itself runs with the collector on.
"""

import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

INTERRUPTED = "error: interrupted; no partial output was left under a final name"


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


_owns_process: list[bool] = []  # set by main(): the collector may be tuned for this process


class _heavy_imports:
    """Hold SIGINT and SIGTERM while torch and numpy are imported; a signal that came meanwhile is
    delivered on leaving, as the usual one-line interrupt. (Raised inside numpy's extension import,
    the interrupt leaves numpy half-loaded and surfaces as an ImportError or RecursionError.)

    In :func:`main`'s process the garbage collector is paused inside, and on leaving what the
    imports made is frozen out of later collections (:func:`gc.freeze`) before it resumes. The
    few thousand cyclic objects the imports leave behind (about 7,000 after the job's imports) are kept, not
    collected."""

    held = {signal.SIGINT, signal.SIGTERM}

    def __enter__(self) -> None:
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, self.held)
        if _owns_process:
            gc.disable()

    def __exit__(self, *exc: object) -> None:
        if _owns_process:
            gc.freeze()
            gc.enable()
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.held)


def build_app() -> Any:
    """The typer application (imported here: ``import ranker.cli`` stays light).

    ``rank-citations --config FILE`` runs the job (the root command); ``validate`` checks a job
    up to its first solve, ``estimate`` predicts its sizes and memory, ``init`` writes a
    commented template job file.
    """
    import typer

    app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                      rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]},
                      help="Rank papers of a citation graph (PageRank, personalized PageRank, author credit) "
                           "from parquet, CSV or JSON Lines files. Run a job with --config FILE.")
    options = _options()
    _add_root(app, options)
    _add_commands(app, options)
    return app


def _options() -> Any:
    """The options the commands share, as typer annotations."""
    from types import SimpleNamespace
    from typing import Annotated, Optional

    import typer

    return SimpleNamespace(
        Config=Annotated[Optional[Path], typer.Option("--config", "-c", metavar="FILE",
                                                      help="TOML job file (rank-citations init writes one).")],
        Overrides=Annotated[Optional[list[str]], typer.Option(
            "--set", metavar="SECTION.KEY=VALUE",
            help="Override a key of the job file, e.g. --set rank.alpha=0.5 (repeatable; VALUE in TOML syntax, "
                 "bare words as strings).")],
        Quiet=Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")],
        Debug=Annotated[bool, typer.Option("--debug", help="Debug log; tracebacks for errors.")],
        Device=Annotated[Optional[str], typer.Option(metavar="DEVICE",
                                                     help="Override [rank] device: auto, cuda or cpu.")],
        NoProgress=Annotated[bool, typer.Option("--no-progress", help="No progress bars.")],
        JobFile=Annotated[Path, typer.Option("--config", "-c", metavar="FILE", help="TOML job file.")],
    )


def _settings(overrides: list[str] | None, device: str | None) -> list[str]:
    """``--set`` overrides, with ``--device`` as one more."""
    return list(overrides or []) + ([f"rank.device={device}"] if device is not None else [])


def _add_root(app: Any, o: Any) -> None:
    """The root command: run the job of ``--config``."""
    import typer

    from . import __version__

    def show_version(value: bool) -> None:
        if value:
            typer.echo(f"rank-citations {__version__}")
            raise typer.Exit()

    Version = Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True,
                                           help="Print the version and exit.")]

    @app.callback(invoke_without_command=True)
    def root(ctx: typer.Context, config: o.Config = None, overrides: o.Overrides = None, quiet: o.Quiet = False,
             debug: o.Debug = False, no_progress: o.NoProgress = False, device: o.Device = None,
             version: Version = False) -> None:
        """Run the job described by --config and write its outputs."""
        if ctx.invoked_subcommand is not None:
            given = [flag for flag, value in (("--config", config), ("--set", overrides), ("--device", device))
                     if value]
            if given:
                typer.echo(f"error: {', '.join(given)} before '{ctx.invoked_subcommand}' would be ignored; put "
                           f"{'it' if len(given) == 1 else 'them'} after the command: rank-citations "
                           f"{ctx.invoked_subcommand} {' '.join(given)} ...", err=True)
                raise typer.Exit(2)
            return
        if config is None:
            typer.echo("error: missing option --config FILE (see rank-citations --help)", err=True)
            raise typer.Exit(2)
        _guarded(lambda: _run(config, _settings(overrides, device), not no_progress), quiet=quiet, debug=debug)


def _add_commands(app: Any, o: Any) -> None:
    """``validate``, ``estimate`` and ``init``."""
    import typer

    @app.command()
    def validate(config: o.JobFile, overrides: o.Overrides = None, device: o.Device = None, quiet: o.Quiet = False,
                 debug: o.Debug = False) -> None:
        """Every check up to the first solve (job file, input files and their columns, id types, seeds,
        targets, authorships); nothing is written."""
        _guarded(lambda: _validate(config, _settings(overrides, device)), quiet=quiet, debug=debug)

    @app.command()
    def estimate(config: o.JobFile, overrides: o.Overrides = None, device: o.Device = None) -> None:
        """Predicted sizes and peak host and device memory of a job, from the files' metadata alone
        (nothing is read or written), and whether it fits the device found."""
        _guarded(lambda: _estimate(config, _settings(overrides, device)), quiet=True, debug=False)

    @app.command()
    def init(path: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the job file.")] = Path(
            "job.toml")) -> None:
        """Write a commented template job file (refuses to overwrite one; makes its folder if missing)."""
        from .config.reference import job_template

        if path.exists():
            typer.echo(f"error: {path} exists; choose another name", err=True)
            raise typer.Exit(1)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(job_template())
        except OSError as exc:
            typer.echo(f"error: cannot write {path} ({exc.strerror or exc})", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {path}: edit [input] citations, then run: rank-citations --config {path}")


def _run(config: Path, overrides: list[str], show_progress: bool) -> None:
    with _heavy_imports():  # imported late (`--help` stays fast), and whole
        from .config import load_config
        from .job import run_job
    run_job(load_config(config, overrides=overrides), show_progress=show_progress)


def _validate(config: Path, overrides: list[str]) -> None:
    with _heavy_imports():
        from .config import load_config
        from .job import validate_job
    facts = validate_job(load_config(config, overrides=overrides))
    print("ok: " + ", ".join(f"{v} {k}" for k, v in facts.items()) + "; nothing was written")


def _estimate(config: Path, overrides: list[str]) -> None:
    with _heavy_imports():
        from .config import load_config
        from .job.estimate import estimate_job
    e = estimate_job(load_config(config, overrides=overrides))
    bound = {"exactly": "", "at least": "at least ", "at most": "at most ", "about": "about "}[e["papers_bound"]]
    print(f"citations: {'' if e['citations_exact'] else 'about '}{e['citations']:,}; papers: "
          f"{bound}{e['papers']:,} ({e['id_kind']} ids); score columns solved together: {e['score_columns']}")
    print("peak host memory by stage: " + "; ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in e["stages"].items()))
    print(f"peak host memory: about {e['host_bytes'] / 2**30:.2f} GiB ({e['peak_stage']}); on {e['device']}: "
          f"about {e['device_bytes'] / 2**30:.2f} GiB for the solve")
    if "far_reaching_sets" in e:
        far = e["far_reaching_sets"]
        print(f"seed sets reaching over half the papers are solved {far['batch']} at a time over the whole graph: "
              f"about {far['bytes'] / 2**30:.2f} GiB while they are")
    if "fits" in e:
        print(f"{'fits' if e['fits'] else 'does NOT fit'}: {e['device_free_bytes'] / 2**30:.2f} GiB free on "
              f"{'the host' if e['device'] == 'cpu' else e['device']}"
              + ("" if e["fits"] else "; try [rank] dtype = 'float32', a smaller [personalize] or [trajectories] "
                 "batch_size, or torchrun over several machines (README, 'Past one machine')"))


def _guarded(work: Callable[[], Any], *, quiet: bool, debug: bool) -> None:
    """Run ``work`` with the log set up; a known error is one line and exit 1, an interrupt exit 130."""
    import typer

    from .errors import RankerError

    rank = os.environ.get("RANK", "0")  # under torchrun: rank 0 logs and reports, the others only warn
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM unwinds like Ctrl-C: temp files are removed
    try:
        with _heavy_imports():
            from .progress import setup_logging
        setup_logging(quiet=quiet or (rank != "0" and not debug), debug=debug)
        work()
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


def __getattr__(name: str) -> Any:
    if name == "app":  # `from ranker.cli import app`: tests and notebooks drive the same application
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_reported: list[bool] = []


def _report_interrupt() -> None:
    if not _reported:
        print(INTERRUPTED, file=sys.stderr, flush=True)
        _reported.append(True)


def main() -> None:
    """Console-script entry point: signals first, then the (heavy) application.

    The garbage collector is paused until the job's modules are imported, and what is alive at
    the end is frozen, so the interpreter's shutdown does not walk it (see the module's notes)."""
    _owns_process.append(True)
    gc.disable()  # typer and the application; _heavy_imports resumes it once the modules are in
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
    finally:
        gc.freeze()  # outputs are committed and closed: the shutdown need not walk the heap


if __name__ == "__main__":  # pragma: no cover
    main()
