"""Signed reports that bind to the dataset bytes."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, scan_args
from consentaudit.cli.app import app


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    data = tmp_path / "data"
    shutil.copytree(DATASET, data)
    report = tmp_path / "audit.json"
    R.invoke(app, scan_args(data, f"sqlite:///{tmp_path / 'db'}", "--report", str(report)))
    key = tmp_path / "keys" / "vendor"
    key.parent.mkdir()
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    result = R.invoke(app, ["sign", str(report), "--key", str(key)])
    assert result.exit_code == 0, result.output
    return report, key, key.with_name("vendor.pub"), data


R = CliRunner()


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "k.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 2  # never overwritten silently


def test_sign_then_verify_round_trips_with_the_dataset(signed: tuple[Path, Path, Path, Path]) -> None:
    report, _, pub, data = signed
    result = R.invoke(
        app,
        ["verify", str(report), "--signature", str(report) + ".sig", "--public-key", str(pub), "--dataset", str(data)],
    )
    assert result.exit_code == 0, result.output
    assert "signature OK" in result.output and "dataset OK" in result.output
    root = json.loads(report.read_text())["header"]["dataset_digest"]
    assert root in result.output
    # whitespace does not matter: the signature covers the canonical JSON
    report.write_text(json.dumps(json.loads(report.read_text())))
    assert R.invoke(app, ["verify", str(report), "--public-key", str(pub)]).exit_code == 0


def test_tampered_report_fails_with_exit_4(signed: tuple[Path, Path, Path, Path]) -> None:
    report, _, pub, _ = signed
    doc = json.loads(report.read_text())
    flip = next(f for f in doc["findings"] if f["verdict"] == "revoked")
    flip["verdict"] = "consented"
    report.write_text(json.dumps(doc, indent=2, sort_keys=True))
    result = R.invoke(app, ["verify", str(report), "--public-key", str(pub)])
    assert result.exit_code == 4 and "changed after signing" in result.output


def test_wrong_key_fails_with_exit_4(signed: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    report, _, _, _ = signed
    other = tmp_path / "other"
    R.invoke(app, ["keygen", str(other)])
    result = R.invoke(app, ["verify", str(report), "--public-key", str(tmp_path / "other.pub")])
    assert result.exit_code == 4 and "another key" in result.output


def test_dataset_with_one_file_changed_fails_with_exit_5(signed: tuple[Path, Path, Path, Path]) -> None:
    report, _, pub, data = signed
    target = data / "consented" / "canon-ixus.jpg"
    target.write_bytes(target.read_bytes() + b"\x00")
    (data / "extra.png").write_bytes((data / "png" / "kodak-dc210.png").read_bytes())
    (data / "broken" / "notes.jpg").unlink()
    result = R.invoke(app, ["verify", str(report), "--public-key", str(pub), "--dataset", str(data)])
    assert result.exit_code == 5
    assert "changed: consented/canon-ixus.jpg" in result.output
    assert "added: extra.png" in result.output and "removed: broken/notes.jpg" in result.output


def test_missing_public_key_or_signature_is_an_input_error(signed: tuple[Path, Path, Path, Path]) -> None:
    report, _, pub, _ = signed
    assert R.invoke(app, ["verify", str(report)]).exit_code == 2
    assert R.invoke(app, ["verify", str(report), "--public-key", str(pub), "--signature", "nope.sig"]).exit_code == 2


def test_a_passphrase_protected_key_signs_and_every_step_prints_the_key_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTAUDIT_KEY_PASSPHRASE", "correct horse battery staple")
    key = tmp_path / "vendor"
    made = R.invoke(app, ["keygen", str(key), "--passphrase"])
    assert made.exit_code == 0, made.output
    assert "ENCRYPTED PRIVATE KEY" in key.read_text()
    fingerprint = made.output.split("key fingerprint: ")[1].split()[0]
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 7 + 64
    report = tmp_path / "audit.json"
    R.invoke(app, scan_args(DATASET, f"sqlite:///{tmp_path / 'db'}", "--report", str(report)))
    signed = R.invoke(app, ["sign", str(report), "--key", str(key)])
    assert signed.exit_code == 0 and fingerprint in signed.output
    verified = R.invoke(app, ["verify", str(report), "--public-key", f"{key}.pub"])
    assert verified.exit_code == 0 and fingerprint in verified.output
    monkeypatch.setenv("CONSENTAUDIT_KEY_PASSPHRASE", "wrong")
    refused = R.invoke(app, ["sign", str(report), "--key", str(key)])
    assert refused.exit_code == 2 and "wrong passphrase" in refused.output
