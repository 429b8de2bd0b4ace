"""consentaudit's command line: the typer app and the registry of commands. Each command module turns
flags into one library call; no rules and no file formats live here."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
from collections.abc import Iterable
from typing import Annotated, NoReturn

import typer

from consentaudit import __version__

# Every command, in the order help lists them (typer lists groups last): name -> (module, attribute), a
# command function or a typer sub-app (a group of commands). A command line builds only the command it runs
# (`main`): converting all of them to click objects, and importing their modules, cost ~40 ms an invocation.
COMMANDS: dict[str, tuple[str, str]] = {
    "scan": ("consentaudit.cli.scan", "scan"),
    "fingerprint": ("consentaudit.cli.references", "fingerprint"),
    "scans": ("consentaudit.cli.reports", "scans"),
    "report": ("consentaudit.cli.reports", "report"),
    "export": ("consentaudit.cli.reports", "export"),
    "explain": ("consentaudit.cli.reports", "explain"),
    "query": ("consentaudit.cli.reports", "query"),
    "lists": ("consentaudit.cli.reports", "lists"),
    "keygen": ("consentaudit.cli.attest", "keygen"),
    "sign": ("consentaudit.cli.attest", "sign"),
    "verify": ("consentaudit.cli.attest", "verify"),
    "certify": ("consentaudit.cli.attest", "certify"),
    "purposes": ("consentaudit.cli.vocabulary", "purposes"),
    "spot-check": ("consentaudit.cli.spotcheck", "spot_check"),
    "diff": ("consentaudit.cli.spotcheck", "diff"),
    "manifest": ("consentaudit.cli.manifests", "manifest_app"),
    "reference": ("consentaudit.cli.references", "reference_app"),
    "store": ("consentaudit.cli.store", "store_app"),
}


def build(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The command line with the named commands (all by default)."""
    cli = typer.Typer(
        help="Audit an image training set against consent manifests and known-scraped sets.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    cli.callback()(main_callback)
    for name in names:
        module, attribute = COMMANDS[name]
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            cli.add_typer(target, name=name)
        else:
            cli.command(name)(target)
    return cli


def __getattr__(name: str) -> typer.Typer:
    """`app`: the whole command line (for tests and embedding), built on first use."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    whole = build()
    globals()["app"] = whole
    return whole


def _needed(args: list[str]) -> list[str]:
    """The commands a command line needs: the one it names first, none for `--version` alone, else all (help,
    an unknown or misspelt command, options before the command, shell completion)."""
    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ):
        return list(COMMANDS)
    if args == ["--version"]:
        return []
    if args and args[0] in COMMANDS:
        return [args[0]]
    return list(COMMANDS)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"consentaudit {__version__}")
        raise typer.Exit()


def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """consentaudit: prove what an image training set contains and whether the people in it agreed."""


def main() -> None:
    """Console-script entry point; exit codes: 0 clean, 1 findings, 2 input, 3 internal, 130 interrupted, 141
    output pipe closed (cli/errors.py)."""
    try:
        build(_needed(sys.argv[1:]))()
        code: object = 0
    except KeyboardInterrupt:  # Ctrl-C outside a command body (e.g. during option parsing)
        code = 130
    except SystemExit as exc:
        code = exc.code
    leave(code)


def leave(code: object) -> NoReturn:
    """Exit as SystemExit(code) would, without tearing the interpreter down: threads that are not daemons are
    waited for, the exit handlers run (stores close, SQLite checkpoints), the standard streams are flushed,
    and the process ends. Freeing every module
    and object one by one took ~0.2 s of a scan command, for nothing the operating system does not do. Under a
    profiler or tracer (cProfile, a debugger, coverage) the exit is the ordinary one, so that they can report."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        raise SystemExit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # SystemExit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        status = 1
    threading = sys.modules.get("threading")
    if threading is not None:  # as the interpreter would: wait for the threads that are not daemons
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe: nothing left to say
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
