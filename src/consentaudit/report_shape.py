"""What a received JSON report must look like before it is decoded, exported or compared with a dataset:
every field a reader, writer or export uses, with its type. A mismatch is named by its JSON path
(`findings[3].reasons[0].detail: expected text, got a number`), so a hand-edited or tampered report is an
input error, never a crash inside a writer. Fields that older reports lack may be absent; none may be of
another type. Pure: it looks at a parsed document only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Opt:
    """A field that may be absent or null."""

    spec: Any


@dataclass(frozen=True)
class ListOf:
    spec: Any


@dataclass(frozen=True)
class MapOf:
    """An object with any keys, each value of `spec`."""

    spec: Any


MATCH = Opt({"record_id": str, "kind": str, "distance": Opt(int), "hash": Opt(str)})
SIGNAL = {
    "protocol": str,
    "value": str,
    "source": str,
    "prohibits": Opt(ListOf(str)),
    "verification": Opt(str),
    "raw": Opt(str),
}
FINDING = {
    "path": str,
    "sha256": Opt(str),
    "phash": Opt(str),
    "dhash": Opt(str),
    "size": int,
    "verdict": str,
    "reasons": ListOf({"verdict": str, "detail": str}),
    "match": MATCH,
    "reference": MATCH,
    "signals": Opt(ListOf(SIGNAL)),
    "metadata": Opt(MapOf(str)),
    "duplicate_group": Opt(int),
}
HEADER = {
    "tool": str,
    "tool_version": str,
    "fingerprint_algorithm": str,
    "dataset": str,
    "scan_id": Opt(int),
    "as_of": str,
    "purposes": ListOf(str),
    "options": {"phash_threshold": int, "fail_on": ListOf(str), "max_image_pixels": int},
    "manifests": ListOf({"path": str, "sha256": str, "records": int}),
    "references": ListOf(
        {"name": str, "path": str, "entries": int, "description": Opt(str), "license": Opt(str), "sha256": Opt(str)}
    ),
    "started_at": str,
    "finished_at": str,
    "errors": Opt(ListOf(str)),
    "dataset_digest": Opt(str),
    "executor": Opt(str),
}
SUMMARY = {
    "images": int,
    "verdicts": MapOf(int),
    "failing": int,
    "duplicate_groups": int,
    "bytes": int,
    "ai_generated": Opt(int),
    "opt_outs": Opt(MapOf(MapOf(int))),
    "crawl_refusals": Opt(MapOf(int)),
    "domains": Opt(ListOf({"domain": str, "images": int, "bytes": int})),
}
REPORT = {
    "schema_version": Opt(str),
    "header": HEADER,
    "summary": SUMMARY,
    "findings": ListOf(FINDING),
    "duplicates": Opt(ListOf(ListOf(str))),
    "files": Opt(ListOf({"path": str, "sha256": Opt(str), "size": Opt(int)})),
}

_NAMES = {str: "text", int: "an integer", float: "a number", bool: "true or false", list: "a list", dict: "an object"}

# A check returns None, or (the path to the problem, innermost key first; what was expected and found). Paths
# are made only on the way out of a mismatch: a report of a million findings is checked at parsing speed.
Problem = tuple[list[str], str]
Check = Callable[[Any], "Problem | None"]


def _kind(value: Any) -> str:
    return "null" if value is None else _NAMES.get(type(value), type(value).__name__)


def _compile(spec: Any) -> Check:
    if isinstance(spec, Opt):
        inner = _compile(spec.spec)
        return lambda v: None if v is None else inner(v)
    if isinstance(spec, dict):
        fields = [(key, _compile(sub), isinstance(sub, Opt)) for key, sub in spec.items()]

        def check_object(v: Any) -> Problem | None:
            if type(v) is not dict:
                return [], f"expected an object, got {_kind(v)}"
            for key, check, optional in fields:
                if key not in v:
                    if optional:
                        continue
                    return [f".{key}"], "missing"
                problem = check(v[key])
                if problem is not None:
                    problem[0].append(f".{key}")
                    return problem
            return None

        return check_object
    if isinstance(spec, ListOf | MapOf):
        item_check = _compile(spec.spec)
        container = list if isinstance(spec, ListOf) else dict

        def check_items(v: Any) -> Problem | None:
            if type(v) is not container:
                return [], f"expected {_NAMES[container]}, got {_kind(v)}"
            each: Any = v  # a list or a dict: (index or key, item) pairs
            for key, item in enumerate(each) if container is list else each.items():
                problem = item_check(item)
                if problem is not None:
                    problem[0].append(f"[{key!r}]" if container is dict else f"[{key}]")
                    return problem
            return None

        return check_items

    def check_value(v: Any) -> Problem | None:  # bool is not an integer here, nor a numeral text
        return None if type(v) is spec else ([], f"expected {_NAMES[spec]}, got {_kind(v)}")

    return check_value


_REPORT = _compile(REPORT)
# the parts of a `scan --out` folder: summary.json's header and summary, and each finding of its Parquet
OUT_SUMMARY = _compile({"header": HEADER, "summary": SUMMARY, "shards": Opt(ListOf({"shard": str, "parquet": str}))})
ONE_FINDING = _compile(FINDING)
# what `verify --dataset` reads of a report (an audit's, or one whose other parts are not an audit's)
DIGESTED = _compile(
    {
        "header": {"dataset_digest": Opt(str)},
        "findings": ListOf({"path": str, "sha256": Opt(str)}),
        "files": Opt(ListOf({"path": str, "sha256": Opt(str)})),
    }
)


def shape_problem(doc: Any, check: Check = _REPORT) -> str | None:
    """The first place where `doc` (a parsed JSON report) is not of the shape `check` was compiled from (an
    audit report's, REPORT, by default), as 'PATH: expected X, got Y'; None when it is."""
    problem = check(doc)
    if problem is None:
        return None
    parts, what = problem
    path = "".join(reversed(parts)).lstrip(".")
    return f"{path or 'the report'}: {what}"
