"""One place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import functools
import os
import select
import sys
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from consentaudit.errors import ConsentAuditError, ManifestError
from consentaudit.visible import visible

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_SIGNATURE = 4  # verify: the signature does not match the report or the key
EXIT_DATASET = 5  # verify: the dataset is not the one the report describes
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what the shell shows for a tool the pipe ended (`| head`)

P = ParamSpec("P")
R = TypeVar("R")


def shown(text: object) -> str:
    """Text for the terminal, line by line with control and bidi characters escaped (`visible`): an error
    that quotes a file name, a manifest field or a report's path cannot drive the terminal."""
    return "\n".join(visible(line) for line in str(text).split("\n"))


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.BadParameter):
            raise
        except ManifestError as exc:
            for p in exc.problems:
                typer.echo(shown(p), err=True)
            typer.echo(f"error: {len(exc.problems)} problem(s) in the input; nothing was scanned", err=True)
            raise typer.Exit(EXIT_INPUT) from None
        except ConsentAuditError as exc:
            typer.echo(f"error: {shown(exc)}", err=True)
            raise typer.Exit(EXIT_INPUT) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: run the same command again to resume", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if isinstance(exc, BrokenPipeError) and _stdout_closed():
                # the reader of the output stopped reading (`consentaudit purposes | head -1`): stop quietly, as
                # a tool the pipe ended does; what is left to print goes nowhere. A broken pipe of the tool's
                # own (to a worker) is an internal error like any other.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(EXIT_BROKEN_PIPE) from None
            traceback.print_exc(file=sys.stderr)
            typer.echo(f"internal error: {type(exc).__name__}: {shown(exc)}", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reading end was closed (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no real descriptor (a test's capture)
        return False
