"""Manifest parsing and validation: every error class, located as file:line: field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, MANIFESTS
from consentaudit.errors import ManifestError
from consentaudit.manifest import check_unique, load_records, parse_manifest
from consentaudit.vocab import ConsentStatus

SHA = "a" * 64
HEADER = "record_id,sha256,phash,path,status,purposes,granted_at,expires_at,revoked_at,explicit_biometric\n"


def problems_of(text: str, name: str = "m.csv") -> list[str]:
    return [str(p) for p in parse_manifest(name, text).problems]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (f"r1,{SHA},,,maybe,ai-training,,,,", "m.csv:2: status: unknown status 'maybe'"),
        (f"r1,{SHA},,,,ai-training,,,,", "m.csv:2: status: required"),
        (f"r1,{SHA},,,granted,ai-training,2025-13-01,,,", "m.csv:2: granted_at: not an ISO date"),
        (f"r1,{SHA},,,granted,ai-training,2025-05-01,2025-04-01,,", "m.csv:2: expires_at: expires (2025-04-01) before"),
        (f"r1,{SHA},,,revoked,ai-training,2025-05-01,,2025-04-01,", "m.csv:2: revoked_at: revoked (2025-04-01) before"),
        ("r1,,,,granted,ai-training,,,,", "m.csv:2: sha256: no identifier"),
        (",{SHA},,,granted,ai-training,,,,".replace("{SHA}", SHA), "m.csv:2: record_id: required"),
        ("r1,xyz,,,granted,ai-training,,,,", "m.csv:2: sha256: must be 64 hex digits"),
        ("r1,,12345,,granted,ai-training,,,,", "m.csv:2: phash: must be 16 hex digits"),
        ("r1,,,../etc/passwd,granted,ai-training,,,,", "m.csv:2: path: path must not contain '..'"),
        ("r1,,,/abs/x.jpg,granted,ai-training,,,,", "m.csv:2: path: path must be relative"),
        (f"r1,{SHA},,,granted,,,,,", "m.csv:2: purposes: granted consent must list the purposes"),
        (f"r1,{SHA},,,granted,AI Training,,,,", "m.csv:2: purposes: invalid purpose token"),
        (f"r1,{SHA},,,granted,ai-training,,,,perhaps", "m.csv:2: explicit_biometric: expected true or false"),
        (f"r1,{SHA},,,granted,ai-training,2025-01-01,,2025-02-01,", "m.csv:2: revoked_at: set on a record whose"),
    ],
)
def test_each_error_class_is_reported_with_location(row: str, expected: str) -> None:
    found = problems_of(HEADER + row + "\n")
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_are_reported_at_once() -> None:
    text = HEADER + f"r1,{SHA},,,maybe,ai-training,,,,\n\nr2,,,,granted,,bad,,,\n"
    found = problems_of(text)
    assert any(p.startswith("m.csv:2: status") for p in found)
    # the blank line counts: r2 sits on line 4
    assert {p.split(": ")[1] for p in found if p.startswith("m.csv:4")} >= {"sha256", "purposes", "granted_at"}


def test_unknown_fields_and_row_width() -> None:
    found = problems_of(f"record_id,sha256,status,purposes,purpose\nr1,{SHA},granted,ai-training,x\nr2,{SHA},granted\n")
    # a misspelt header column is reported once, for the header line, not once per row
    assert found.count("m.csv:1: purpose: unknown column (extension fields must start with 'x-')") == 1
    assert "m.csv:3: -: row has 3 cells, header has 5" in found
    assert problems_of(f"record_id,sha256,status,purposes,x-batch\nr1,{SHA},granted,ai-training,7\n") == []


def test_duplicate_ids_across_manifests() -> None:
    a = parse_manifest("a.csv", HEADER + f"r1,{SHA},,,granted,ai-training,,,,\n")
    b = parse_manifest("b.jsonl", json.dumps({"record_id": "r1", "path": "x.jpg", "status": "denied"}) + "\n")
    found = [str(p) for p in check_unique([a, b])]
    assert found == ["b.jsonl:1: record_id: duplicate record_id 'r1' (first defined at a.csv:2)"]
    with pytest.raises(ManifestError) as exc:
        load_records([a, b])
    assert len(exc.value.problems) == 1


def test_jsonl_and_json_line_numbers() -> None:
    jsonl = '{"record_id": "a", "path": "x.jpg", "status": "granted", "purposes": ["ai-training"]}\n{oops\n'
    assert problems_of(jsonl, "m.jsonl")[0].startswith("m.jsonl:2: -: invalid JSON")
    doc = (
        '{\n  "manifest_version": "1",\n  "controller": "ACME",\n  "records": [\n'
        '    {"record_id": "a", "path": "x.jpg", "status": "granted", "purposes": ["ai-training"]},\n'
        '    {"record_id": "b",\n     "status": "granted", "purposes": ["ai-training"]}\n  ]\n}\n'
    )
    parsed = parse_manifest("m.json", doc)
    assert [str(p) for p in parsed.problems] == [
        "m.json:6: sha256: no identifier: at least one of sha256, phash or path is required"
    ]
    assert parsed.records[0].controller == "ACME"  # document-level controller applies to its records
    assert problems_of('{"manifest_version": "2", "records": []}', "m.json")[0].startswith("m.json:1: manifest_version")


def test_bundled_manifests_parse_and_match_the_schema() -> None:
    schema = json.loads((MANIFESTS / "schema" / "consent-record.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(MANIFESTS.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            validator.validate(json.loads(line))
    example = json.loads((MANIFESTS / "example.json").read_text())
    for rec in example["records"]:
        validator.validate(rec)
    parsed = parse_manifest("example.json", (MANIFESTS / "example.json").read_text())
    assert parsed.problems == ()
    # the schema rejects what the parser rejects
    assert not validator.is_valid({"record_id": "x", "status": "maybe", "path": "a.jpg"})
    assert not validator.is_valid({"record_id": "x", "status": "granted", "purposes": ["ai-training"]})
    assert not validator.is_valid({"record_id": "x", "status": "granted", "sha256": "zz", "purposes": ["ai-training"]})


def test_csv_lists_dates_and_booleans(tmp_path: Path) -> None:
    parsed = parse_manifest(
        "m.csv", HEADER + f"r1,{SHA},,,granted,ai-training; research ,2025-01-01T10:00:00Z,2027-01-01,,yes\n"
    )
    (r,) = parsed.records
    assert r.purposes == frozenset({"ai-training", "research"})
    assert str(r.granted_at) == "2025-01-01" and r.explicit_biometric is True
    assert r.status == ConsentStatus.GRANTED


def test_bom_and_non_csv_extension() -> None:
    assert parse_manifest("m.csv", "\ufeff" + HEADER + f"r1,{SHA},,,denied,,,,,\n").problems == ()
    assert problems_of("x", "m.txt")[0].startswith("m.txt: -: m.txt: unknown manifest format")


def test_phash256_is_checked_and_needs_a_phash() -> None:
    head = "record_id,phash,phash256,status,purposes\n"
    good = parse_manifest("m.csv", head + f"r1,8f0f0f0f0f0f0f0f,{'AB' * 32},granted,ai-training\n")
    assert not good.problems and good.records[0].phash256 == "ab" * 32
    assert problems_of(head + "r1,8f0f0f0f0f0f0f0f,abc,granted,ai-training\n") == [
        "m.csv:2: phash256: must be 64 hex digits (imagehash's phash with hash_size=16)"
    ]
    assert problems_of(f"record_id,sha256,phash256,status,purposes\nr1,{SHA},{'ab' * 32},granted,ai-training\n") == [
        "m.csv:2: phash256: needs the record's 64-bit phash too (candidates are found by it)"
    ]


def test_manifest_init_fills_in_the_defaults_it_is_given(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from consentaudit.cli.app import app

    out = tmp_path / "m.jsonl"
    args = ["manifest", "init", str(FIXTURES / "photos"), "-o", str(out), "--id-prefix", "acme-", "--status", "granted"]
    result = CliRunner().invoke(app, [*args, "-p", "ai-training", "-p", "research", "--granted-at", "2026-01-05"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["record_id"] == "acme-000001" and rows[0]["status"] == "granted"
    assert rows[0]["purposes"] == ["ai-training", "research"] and rows[0]["granted_at"] == "2026-01-05"
    assert CliRunner().invoke(app, ["manifest", "validate", str(out)]).exit_code == 0  # a valid manifest
    bad = CliRunner().invoke(
        app, ["manifest", "init", str(FIXTURES / "photos"), "-o", str(tmp_path / "x.csv"), "--status", "maybe"]
    )
    assert bad.exit_code == 2 and "--status" in bad.output and not (tmp_path / "x.csv").exists()


def _verdicts(tmp_path: Path, *manifests: Path) -> dict[str, str]:
    from typer.testing import CliRunner

    from consentaudit.cli.app import app

    out = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
    args = ["scan", str(FIXTURES / "dataset"), "--as-of", "2026-11-26", "--db", f"sqlite:///{tmp_path / 'db'}"]
    for m in manifests:
        args += ["-m", str(m)]
    CliRunner().invoke(app, [*args, "--quiet", "--report", str(out), "--no-thumbnails"])
    return {f["path"]: f["verdict"] for f in json.loads(out.read_text())["findings"]}


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".json"])
def test_manifest_merge_gives_the_verdicts_of_its_inputs(tmp_path: Path, ext: str) -> None:
    from typer.testing import CliRunner

    from consentaudit.cli.app import app

    a, b = MANIFESTS / "fixtures.csv", MANIFESTS / "fixtures-extra.jsonl"
    merged = tmp_path / f"merged{ext}"
    result = CliRunner().invoke(app, ["manifest", "merge", str(a), str(b), str(a), "-o", str(merged)])
    assert result.exit_code == 0, result.output
    records = load_records([parse_manifest(str(p), p.read_text()) for p in (a, b)])
    assert f"wrote {len(records)} record(s)" in result.output
    assert f"{len(load_records([parse_manifest(str(a), a.read_text())]))} identical repeat(s)" in result.output

    def content(rs: list[Any]) -> dict[str, tuple[object, ...]]:
        return {
            r.record_id: (r.status, r.purposes, r.sha256, r.phash, r.granted_at, r.revoked_at, r.subject_ids, r.license)
            for r in rs
        }

    assert content(load_records([parse_manifest(str(merged), merged.read_text())])) == content(records)
    assert _verdicts(tmp_path, merged) == _verdicts(tmp_path, a, b)


def test_manifest_merge_conflicts_name_both_places_or_the_later_file_wins(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from consentaudit.cli.app import app

    a = MANIFESTS / "fixtures.csv"
    lines = a.read_text().splitlines()
    update = tmp_path / "update.csv"  # r-0001 revoked after the original grant
    row = lines[1].split(",")
    row[lines[0].split(",").index("status")] = "revoked"
    row[lines[0].split(",").index("revoked_at")] = "2026-06-01"
    update.write_text(lines[0] + "\n" + ",".join(row) + "\n")
    out = tmp_path / "m.csv"
    result = CliRunner().invoke(app, ["manifest", "merge", str(a), str(update), "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert f"{update}:2: record_id: record 'r-0001' differs from the one at {a}:2" in result.output
    result = CliRunner().invoke(app, ["manifest", "merge", str(a), str(update), "-o", str(out), "--prefer", "last"])
    assert result.exit_code == 0, result.output
    assert "1 replaced by a later file" in result.output
    (revoked,) = [r for r in load_records([parse_manifest(str(out), out.read_text())]) if r.record_id == "r-0001"]
    assert revoked.status == ConsentStatus.REVOKED
    assert _verdicts(tmp_path, out, MANIFESTS / "fixtures-extra.jsonl")[row[3]] == "revoked"
    # an invalid input: every problem with file:line, nothing written
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\n" + lines[1].replace(",granted,", ",maybe,") + "\n")
    result = CliRunner().invoke(app, ["manifest", "merge", str(a), str(bad), "-o", str(tmp_path / "n.csv")])
    assert result.exit_code == 2 and f"{bad}:2: status" in result.output and not (tmp_path / "n.csv").exists()


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab./\\ :-é\t")), max_size=14))
def test_manifest_paths_normalise_as_posix_paths_do(value: str) -> None:
    """`normalise_path` splits by string operations; its answer is PurePosixPath's (parts without '' and
    '.'), and it refuses what it refused before: absolute, drive-lettered, '..' and empty paths."""
    import re
    from pathlib import PurePosixPath

    from consentaudit.consent_record import normalise_path

    p = value.strip().replace("\\", "/")
    if p.startswith("/") or re.match(r"^[A-Za-z]:", p):
        expected: str | None = None
    else:
        parts = [s for s in PurePosixPath(p).parts if s not in ("", ".")]
        expected = "/".join(parts) if parts and ".." not in parts else None
    try:
        got: str | None = normalise_path(value)
    except ValueError:
        got = None
    assert got == expected


def test_manifest_init_computes_a_records_codes_not_a_reference_entrys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A skeleton record carries sha256, pHash and the 256-bit pHash: the views and ORB keypoints of a
    reference fingerprint (three quarters of its cost) are not computed, and the 256-bit codes are the ones
    a reference fingerprint of the same photo has."""
    import csv

    from consentaudit import fingerprint
    from consentaudit.inputs import REFERENCE
    from consentaudit.manifest_files import write_skeleton
    from consentaudit.mapper import fingerprint_source

    photos = FIXTURES / "photos"
    reference = {img.path: img.fingerprint for img in fingerprint_source(photos, REFERENCE)}

    def not_needed(*args: object) -> object:
        raise AssertionError("a manifest record needs no views or keypoints")

    monkeypatch.setattr(fingerprint, "views_of", not_needed)
    monkeypatch.setattr(fingerprint, "keypoints_of", not_needed)
    out = tmp_path / "m.csv"
    result = write_skeleton(photos, out, jobs=1)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert result.written == len(rows) > 10
    for row in rows:
        fp = reference[row["path"]]
        assert fp is not None and (row["sha256"], row["phash"], row["phash256"]) == (fp.sha256, fp.phash, fp.phash256)
