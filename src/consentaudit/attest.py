"""Attestation: Ed25519 keys, detached signatures over the canonical JSON report, and verification of a
report against the dataset it describes (Merkle root over sorted (path, sha256))."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consentaudit import strict_json
from consentaudit.digest import merkle_root, sha256_file, sha256_hex
from consentaudit.errors import ConsentAuditError, InputError
from consentaudit.report_shape import DIGESTED, shape_problem
from consentaudit.sources import open_source, read_item
from consentaudit.sources.archive_reader import ArchiveReader

SIGNATURE_FORMAT = "consentaudit-signature/1"
CANONICALISATION = "json: sorted keys, no whitespace, UTF-8"


class SignatureInvalid(ConsentAuditError):
    """The signature does not verify: the report was changed or another key signed it."""


def parse_report(report_text: str, where: str = "report") -> dict[str, Any]:
    """A consentaudit JSON report read one way only: duplicate keys, NaN and other ambiguities are refused
    (strict_json), and it must be an object with a header and findings (an audit or a spot-check report)."""
    try:
        obj = strict_json.loads(report_text)
    except strict_json.StrictJsonError as exc:
        raise InputError(f"{where}: not a JSON report: {exc}") from None
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("header"), dict)
        or not isinstance(obj.get("findings"), list)
    ):
        raise InputError(f"{where}: not a consentaudit report (expected an object with a header and findings)")
    return obj


def canonical_bytes(report_text: str, where: str = "report") -> bytes:
    return canonical_json(parse_report(report_text, where))


def keygen(key_path: Path, force: bool = False, passphrase: bytes | None = None) -> Path:
    """Write an Ed25519 private key (PKCS#8 PEM, mode 0600; encrypted with `passphrase` when given) and
    KEY.pub; returns the public key path."""
    pub_path = key_path.with_name(key_path.name + ".pub")
    if not force and (key_path.exists() or pub_path.exists()):
        raise InputError(f"{key_path} or {pub_path} exists (use --force to overwrite)")
    key = Ed25519PrivateKey.generate()
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(key_path, flags, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    os.chmod(key_path, 0o600)
    pub_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pub_path


def is_encrypted(path: Path) -> bool:
    """Whether a private key file is passphrase-protected (PKCS#8 ENCRYPTED PRIVATE KEY)."""
    try:
        return b"ENCRYPTED PRIVATE KEY" in path.read_bytes()[:200]
    except OSError:
        return False


def _load_private(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except TypeError:
        raise InputError(f"{path} is passphrase-protected: give the passphrase") from None
    except ValueError:
        raise InputError(f"cannot load private key {path}: wrong passphrase or not a PEM private key") from None
    except OSError as exc:
        raise InputError(f"cannot load private key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path} is not an Ed25519 private key")
    return key


def _load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"cannot load public key {path}: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path} is not an Ed25519 public key")
    return key


def key_fingerprint(path: Path) -> str:
    """The key id (sha256 of the raw Ed25519 public key) of a public key file, as signatures record it."""
    return _key_id(_load_public(path))


def _key_id(pub: Ed25519PublicKey) -> str:
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """The bytes a signature covers: JSON with sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_payload(
    payload: bytes, key_path: Path, passphrase: bytes | None = None, **fields: str | None
) -> dict[str, str | None]:
    """A detached Ed25519 signature document over `payload` (with `fields` recorded beside it)."""
    key = _load_private(key_path, passphrase)
    return {
        "format": SIGNATURE_FORMAT,
        "algorithm": "ed25519",
        "canonicalisation": CANONICALISATION,
        "key_id": _key_id(key.public_key()),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        **fields,
        "signature": base64.b64encode(key.sign(payload)).decode("ascii"),
    }


def check_payload(payload: bytes, sig: dict[str, str], pub_path: Path, what: str = "the report") -> None:
    """SignatureInvalid unless `sig` (a parsed signature file) is `pub_path`'s signature over `payload`."""
    pub = _load_public(pub_path)
    if sig["key_id"] != _key_id(pub):
        raise SignatureInvalid(f"signed by another key ({sig['key_id']}), not {pub_path} ({_key_id(pub)})")
    try:
        pub.verify(base64.b64decode(sig["signature"], validate=True), payload)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid(f"{what} does not match its signature: it was changed after signing") from exc


def sign(report_path: Path, key_path: Path, passphrase: bytes | None = None) -> Path:
    """Write REPORT.sig, a detached Ed25519 signature over the canonical JSON of the report."""
    try:
        text = report_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read report {report_path}: {exc}") from None
    payload = canonical_bytes(text, str(report_path))
    header = json.loads(payload)["header"]
    sig = sign_payload(payload, key_path, passphrase, dataset_digest=header.get("dataset_digest"))
    out = report_path.with_name(report_path.name + ".sig")
    out.write_text(json.dumps(sig, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def verify_signature(report_path: Path, sig_path: Path, pub_path: Path) -> dict[str, Any]:
    """The report as a dict when the signature verifies; SignatureInvalid otherwise."""
    try:
        text = report_path.read_text(encoding="utf-8")
        sig_text = sig_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read report or signature: {exc}") from None
    sig = parse_signature(sig_text, sig_path)
    payload = canonical_bytes(text, str(report_path))
    check_payload(payload, sig, pub_path)
    report: dict[str, Any] = json.loads(payload)
    return report


def read_signature(path: Path) -> dict[str, str]:
    """A signature file's fields (format, key_id, signature, payload_sha256, …), checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read signature {path}: {exc}") from None
    return parse_signature(text, path)


def parse_signature(text: str, path: Path | str) -> dict[str, str]:
    """A signature file's fields, each checked for its type: a malformed file is an input error."""
    try:
        sig = strict_json.loads(text)
    except strict_json.StrictJsonError as exc:
        raise InputError(f"{path}: not a signature file: {exc}") from None
    if not isinstance(sig, dict) or sig.get("format") != SIGNATURE_FORMAT or sig.get("algorithm") != "ed25519":
        raise InputError(f"{path} is not a {SIGNATURE_FORMAT} Ed25519 signature")
    for name in ("key_id", "signature"):
        if not isinstance(sig.get(name), str):
            raise InputError(f"{path}: malformed signature file: {name!r} must be text, not {sig.get(name)!r}")
    return {k: v for k, v in sig.items() if isinstance(v, str)}


@dataclass
class DatasetDiff:
    expected_root: str | None
    actual_root: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return self.expected_root == self.actual_root and not (self.added or self.removed or self.changed)


def dataset_entries(dataset: Path) -> dict[str, str | None]:
    """(path -> sha256) of every dataset entry as a scan records it: each image (None when it cannot be
    read) and every other file a loader could read (sidecars, shards, parquet, hidden files)."""
    out: dict[str, str | None] = {}
    source = open_source(dataset)
    with ArchiveReader() as archives:  # a zip or compressed tar opened once, not once per member
        for item in source.items():
            if item.problem is not None:
                out[item.path] = None
                continue
            try:
                data = read_item(item, archives=archives)
            except OSError:
                out[item.path] = None
                continue
            out[item.path] = sha256_hex(data) if data else None
    for f in source.files:
        try:
            out[f.path] = sha256_file(Path(f.location))
        except OSError:
            out[f.path] = None
    return out


def compare_dataset(report: dict[str, Any], dataset: Path) -> DatasetDiff:
    problem = shape_problem(report, DIGESTED)
    if problem:
        raise InputError(f"the report cannot be compared with a dataset: {problem}")
    recorded = {f["path"]: f.get("sha256") for f in [*report.get("findings", []), *report.get("files", [])]}
    actual = dataset_entries(dataset)
    diff = DatasetDiff(report.get("header", {}).get("dataset_digest"), merkle_root(actual.items()))
    diff.added = sorted(set(actual) - set(recorded))
    diff.removed = sorted(set(recorded) - set(actual))
    diff.changed = sorted(p for p in set(actual) & set(recorded) if actual[p] != recorded[p])
    return diff
