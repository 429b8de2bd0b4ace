"""consentaudit's command line: the typer app and the registry of commands. Each command module turns
flags into one library call; no rules and no file formats live here."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import Annotated, NoReturn

import typer

from consentaudit import __version__
from consentaudit.cli import attest, reports, scan, spotcheck, vocabulary
from consentaudit.cli.manifests import manifest_app
from consentaudit.cli.references import fingerprint, reference_app
from consentaudit.cli.store import store_app

app = typer.Typer(
    help="Audit an image training set against consent manifests and known-scraped sets.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(manifest_app, name="manifest")
app.add_typer(reference_app, name="reference")
app.add_typer(store_app, name="store")
app.command("scan")(scan.scan)
app.command("fingerprint")(fingerprint)
app.command("scans")(reports.scans)
app.command("report")(reports.report)
app.command("export")(reports.export)
app.command("explain")(reports.explain)
app.command("query")(reports.query)
app.command("lists")(reports.lists)
app.command("keygen")(attest.keygen)
app.command("sign")(attest.sign)
app.command("verify")(attest.verify)
app.command("certify")(attest.certify)
app.command("purposes")(vocabulary.purposes)
app.command("spot-check")(spotcheck.spot_check)
app.command("diff")(spotcheck.diff)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"consentaudit {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """consentaudit: prove what an image training set contains and whether the people in it agreed."""


def main() -> None:
    """Console-script entry point; exit codes: 0 clean, 1 findings, 2 input, 3 internal, 130 interrupted."""
    try:
        app()
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
