"""The certification bundle: `certify` writes it (folder or zip), `verify BUNDLE` checks everything in it."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import FIXTURES, MANIFESTS
from consentaudit import attest
from consentaudit.cli.app import app
from consentaudit.cli.errors import EXIT_DATASET, EXIT_INPUT, EXIT_SIGNATURE

R = CliRunner()
MANIFEST = MANIFESTS / "fixtures-shards.csv"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A real audit of the shard fixture (copied, so a test may change it), and a key pair."""
    tmp = tmp_path_factory.mktemp("bundle")
    shards = tmp / "shards"
    shutil.copytree(FIXTURES / "shards", shards)
    report = tmp / "audit.json"
    args = ["scan", str(shards), "-m", str(MANIFEST), "--as-of", "2026-11-26", "--db", f"sqlite:///{tmp / 'db'}"]
    R.invoke(app, [*args, "--quiet", "--report", str(report), "--fail-on", "none"])
    key = tmp / "vendor.key"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    return report, key, shards


def _certify(signed: tuple[Path, Path, Path], out: Path) -> None:
    report, key, _ = signed
    result = R.invoke(app, ["certify", str(report), "--key", str(key), "-o", str(out), "-m", str(MANIFEST)])
    assert result.exit_code == 0, result.output
    assert f"key fingerprint {attest.key_fingerprint(key.with_name('vendor.key.pub'))}" in result.output


def _verify(bundle: Path, key: Path, *extra: str) -> tuple[int, str]:
    result = R.invoke(app, ["verify", str(bundle), "--public-key", str(key.with_name(key.name + ".pub")), *extra])
    return result.exit_code, result.output


@pytest.mark.parametrize("name", ["bundle", "bundle.zip"])
def test_certify_writes_a_bundle_verify_accepts(signed: tuple[Path, Path, Path], tmp_path: Path, name: str) -> None:
    report, key, shards = signed
    out = tmp_path / name
    _certify(signed, out)
    code, output = _verify(out, key, "--dataset", str(shards))
    assert code == 0, output
    assert "bundle OK" in output and "dataset OK" in output
    if out.suffix == ".zip":
        with zipfile.ZipFile(out) as zf:
            files = {n: zf.read(n) for n in zf.namelist()}
    else:
        files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(files) == {
        "BUNDLE.json", "BUNDLE.json.sig", "audit.json", "audit.html", "audit.md", "inputs.json",
        "eu-ai-act-summary.md", "croissant-rai.json", "cyclonedx.json",
    }  # fmt: skip
    assert files["audit.json"] == report.read_bytes()  # the delivered bytes, not a re-rendering
    index = json.loads(files["BUNDLE.json"])
    for n, meta in index["files"].items():
        assert hashlib.sha256(files[n]).hexdigest() == meta["sha256"]
    # the exports point at the bundled report by its digest; the inputs record the manifest's digest only
    bom = json.loads(files["cyclonedx.json"])
    assert bom["components"][0]["externalReferences"][0]["hashes"][0]["content"] == index["report_sha256"]
    inputs = json.loads(files["inputs.json"])
    assert inputs["manifests"][0]["sha256"] == hashlib.sha256(MANIFEST.read_bytes()).hexdigest()
    assert inputs["manifests"][0]["given"] is True
    assert MANIFEST.read_bytes() not in files.values()  # the manifest itself is never copied in


def test_verify_names_every_changed_extra_or_missing_file(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, key, _ = signed
    out = tmp_path / "b"
    _certify(signed, out)
    (out / "audit.md").write_text("all consented\n")
    (out / "extra.txt").write_text("slipped in\n")
    (out / "croissant-rai.json").unlink()
    code, output = _verify(out, key)
    assert code == EXIT_SIGNATURE
    assert "audit.md: changed" in output
    assert "extra.txt: in the bundle but not in its signed index" in output
    assert "croissant-rai.json: listed in the index but missing" in output


def test_an_index_resigned_by_another_key_or_over_a_false_export_fails(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, key, _ = signed
    out = tmp_path / "b"
    _certify(signed, out)
    other = tmp_path / "other.key"
    R.invoke(app, ["keygen", str(other)])
    index = json.loads((out / "BUNDLE.json").read_text())
    (out / "BUNDLE.json.sig").write_text(json.dumps(attest.sign_payload(attest.canonical_json(index), other)))
    code, output = _verify(out, key)
    assert code == EXIT_SIGNATURE and "signed by another key" in output
    # the vendor's own key over an export that the report does not support: the content check catches it
    summary = (out / "eu-ai-act-summary.md").read_text().replace("Images in the dataset found opted out: 3", "… 0")
    (out / "eu-ai-act-summary.md").write_text(summary)
    index["files"]["eu-ai-act-summary.md"]["sha256"] = hashlib.sha256(summary.encode()).hexdigest()
    (out / "BUNDLE.json").write_text(json.dumps(index))
    (out / "BUNDLE.json.sig").write_text(json.dumps(attest.sign_payload(attest.canonical_json(index), key)))
    code, output = _verify(out, key)
    assert code == EXIT_SIGNATURE and "eu-ai-act-summary.md: does not follow from the bundled report" in output


def test_a_zip_member_that_climbs_out_is_refused_never_written(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, key, _ = signed
    out = tmp_path / "b.zip"
    _certify(signed, out)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("../evil.txt", b"x")
    code, output = _verify(out, key)
    assert code == EXIT_SIGNATURE and "climbs out" in output
    assert not (tmp_path / "evil.txt").exists()


def test_verify_bundle_against_a_changed_dataset_and_bad_inputs(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    report, key, shards = signed
    out = tmp_path / "b"
    _certify(signed, out)
    changed = tmp_path / "changed"
    shutil.copytree(shards, changed)
    with (changed / "00000.parquet").open("ab") as f:
        f.write(b"\0")
    code, output = _verify(out, key, "--dataset", str(changed))
    assert code == EXIT_DATASET and "changed: 00000.parquet" in output
    # a manifest the report did not use, and a bundle that already exists: input errors, nothing written
    stray = tmp_path / "other.csv"
    stray.write_text(MANIFEST.read_text() + "\n")
    args = ["certify", str(report), "--key", str(key), "-o", str(tmp_path / "c"), "-m", str(stray)]
    assert R.invoke(app, args).exit_code == EXIT_INPUT and not (tmp_path / "c").exists()
    assert R.invoke(app, ["certify", str(report), "--key", str(key), "-o", str(out)]).exit_code == EXIT_INPUT


def test_a_bundle_zip_with_damaged_member_data_is_an_input_error(
    signed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """The bundle's members are deflated: bytes flipped inside one's compressed data make zlib fail (it
    stopped `verify` with an internal error); now it is an input error that names the file."""
    _, key, _ = signed
    out = tmp_path / "b.zip"
    _certify(signed, out)
    with zipfile.ZipFile(out) as zf:
        info = max(zf.infolist(), key=lambda i: i.compress_size)
    data = bytearray(out.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode())
    for k in range(start + 16, start + 80):
        data[k] ^= 0x55
    out.write_bytes(bytes(data))
    code, output = _verify(out, key)
    assert code == EXIT_INPUT and "not a readable bundle zip" in output and "b.zip" in output
