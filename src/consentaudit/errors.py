"""One exception root for the package; subclasses say where the problem is."""

from __future__ import annotations

from dataclasses import dataclass


class ConsentAuditError(Exception):
    """Root of every error consentaudit raises on purpose. The CLI maps these to exit code 2."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input file, located as precisely as the format allows."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field or '-'}: {self.message}"


class InputError(ConsentAuditError):
    """Input that cannot be used as given (missing dataset, unreadable file, bad option value)."""


class ManifestError(ConsentAuditError):
    """One or more consent manifests are invalid; every problem found is listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class OutputError(ConsentAuditError):
    """A report or export cannot be written (no such folder, no permission, disk full)."""


class StoreError(ConsentAuditError):
    """The scan store cannot be opened or does not hold what was asked for."""
