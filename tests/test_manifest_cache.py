"""The manifest cache: a manifest that parsed without problems is read back by the sha256 of its bytes,
record for record as the parser gives it; an edited file, a manifest with problems or a damaged entry is
parsed again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import MANIFESTS
from consentaudit import manifest as manifest_module
from consentaudit.errors import ManifestError
from consentaudit.inputs import load_manifests


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("CONSENTAUDIT_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts records validated by the parser."""
    calls: list[int] = []
    real = manifest_module.parse_record

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(manifest_module, "parse_record", counting)
    return calls


def test_a_manifest_is_validated_once_and_read_back_record_for_record(
    tmp_path: Path, cache: Path, parses: list[int]
) -> None:
    paths = [tmp_path / "a.csv", tmp_path / "b.jsonl", tmp_path / "c.json"]
    for p, src in zip(paths, ("fixtures.csv", "fixtures-extra.jsonl", "example.json"), strict=True):
        shutil.copy(MANIFESTS / src, p)
    first, infos = load_manifests(paths)
    assert len(parses) == len(first) > 10
    assert len(list((cache / "manifests").iterdir())) == 3
    parses.clear()
    again, infos2 = load_manifests(paths)
    assert parses == []  # nothing validated again
    assert again == first and infos2 == infos  # every field, origin (file and line) included
    assert any(r.granted_at for r in again) and any(r.purposes for r in again)
    # the same bytes under another name: the records say where they were read this time
    renamed = tmp_path / "renamed.csv"
    shutil.copy(paths[0], renamed)
    records, info = load_manifests([renamed])
    assert parses == [] and info[0].sha256 == infos[0].sha256
    assert {r.origin.file for r in records if r.origin} == {str(renamed)}
    assert [r.origin.line for r in records if r.origin] == [r.origin.line for r in first[: len(records)] if r.origin]


def test_an_edit_that_keeps_size_and_date_is_read_again(tmp_path: Path, cache: Path, parses: list[int]) -> None:
    path = tmp_path / "m.csv"
    shutil.copy(MANIFESTS / "fixtures.csv", path)
    before, _ = load_manifests([path])
    st = path.stat()
    text = path.read_text()
    assert ",2025-03-01," in text
    path.write_text(text.replace(",2025-03-01,", ",2025-04-01,", 1))  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same date
    assert path.stat().st_size == st.st_size
    parses.clear()
    after, _ = load_manifests([path])
    assert parses  # validated again: the key is the content
    changed = [(a.record_id, b.granted_at) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == 1 and str(changed[0][1]) == "2025-04-01"


def test_a_manifest_with_problems_is_not_kept_and_a_damaged_entry_is_parsed_again(
    tmp_path: Path, cache: Path, parses: list[int]
) -> None:
    bad = tmp_path / "bad.csv"
    lines = (MANIFESTS / "fixtures.csv").read_text().splitlines()
    bad.write_text("\n".join([lines[0], lines[1].replace("granted", "grantd", 1), *lines[2:]]) + "\n")
    for _ in range(2):
        with pytest.raises(ManifestError) as err:
            load_manifests([bad])
        assert "bad.csv:2" in str(err.value)
    assert not (cache / "manifests").exists() or not list((cache / "manifests").iterdir())
    good = tmp_path / "good.csv"
    shutil.copy(MANIFESTS / "fixtures.csv", good)
    first, _ = load_manifests([good])
    entry = next((cache / "manifests").iterdir())
    entry.write_text('{"format": "x", "records": [[')
    parses.clear()
    assert load_manifests([good])[0] == first and parses


def test_a_records_upright_phash_is_kept_by_the_cache(tmp_path: Path, cache: Path, parses: list[int]) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"record_id": "r-1", "phash": "cce7c604894dd87d", "phash_upright": "D1E3C7C604894DD8", "status": "granted",'
        ' "purposes": ["ai-training"]}\n'
    )
    first, _ = load_manifests([path])
    assert first[0].phash_upright == "d1e3c7c604894dd8"  # validated, lower-cased
    parses.clear()
    again, _ = load_manifests([path])
    assert parses == [] and again == first


def test_an_entry_damaged_but_still_parseable_is_not_used(tmp_path: Path, cache: Path, parses: list[int]) -> None:
    """A bit flipped in a kept record (here a consent turned to a revocation) leaves valid JSON: the entry's
    sha256 no longer matches, so the manifest is parsed again and the entry replaced."""
    good = tmp_path / "good.csv"
    shutil.copy(MANIFESTS / "fixtures.csv", good)
    first, _ = load_manifests([good])
    assert any(r.status.value == "granted" for r in first)
    entry = next((cache / "manifests").iterdir())
    data = entry.read_bytes()
    assert b'"granted"' in data
    entry.write_bytes(data.replace(b'"granted"', b'"revoked"', 1))
    parses.clear()
    again, _ = load_manifests([good])
    assert parses and again == first  # parsed again: the damage reached no record
    assert entry.read_bytes() == data  # and the entry written again
    entry.write_bytes(data[: len(data) // 2])  # cut short
    parses.clear()
    assert load_manifests([good])[0] == first and parses
