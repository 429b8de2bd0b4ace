"""One place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from consentaudit.errors import ConsentAuditError, ManifestError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3
EXIT_SIGNATURE = 4  # verify: the signature does not match the report or the key
EXIT_DATASET = 5  # verify: the dataset is not the one the report describes
EXIT_INTERRUPTED = 130

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.BadParameter):
            raise
        except ManifestError as exc:
            for p in exc.problems:
                typer.echo(str(p), err=True)
            typer.echo(f"error: {len(exc.problems)} problem(s) in the input; nothing was scanned", err=True)
            raise typer.Exit(EXIT_INPUT) from None
        except ConsentAuditError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_INPUT) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: run the same command again to resume", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            typer.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper
