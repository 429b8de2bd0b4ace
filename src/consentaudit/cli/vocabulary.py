"""`consentaudit purposes`: the purposes vocabulary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.errors import handle_errors, shown
from consentaudit.vocab import PURPOSE_DESCRIPTIONS


@handle_errors
def purposes(
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Also list the purposes this policy declares.", metavar="FILE")
    ] = None,
) -> None:
    """List the purposes a scan can be audited for (--purpose), with what each covers."""
    from consentaudit.policy_file import load_policy

    for p, text in PURPOSE_DESCRIPTIONS.items():
        typer.echo(f"{p.value}\t{text}")
    pol = load_policy(policy, Path.cwd())
    for declared in pol.declared_purposes:
        typer.echo(f"{shown(declared)}\tdeclared by {pol.path}")
    typer.echo("x-...\tany extension purpose (starts with x-)")
