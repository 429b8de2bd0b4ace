"""`consentaudit keygen | sign | verify`: Ed25519 keys, detached signatures, dataset verification."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consentaudit.cli.errors import EXIT_DATASET, EXIT_SIGNATURE, handle_errors, shown

PASSPHRASE_ENV = "CONSENTAUDIT_KEY_PASSPHRASE"


def _passphrase(confirm: bool = False) -> bytes:
    """The key's passphrase: from the environment (for CI and scripts), else asked for on the terminal."""
    import os

    text = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
        "key passphrase", hide_input=True, confirmation_prompt=confirm
    )
    return text.encode("utf-8")


@handle_errors
def keygen(
    key: Annotated[
        Path, typer.Argument(help="Private key file to write (KEY.pub is written beside it).", metavar="KEY")
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
    passphrase: Annotated[
        bool,
        typer.Option("--passphrase", help=f"Protect the key with a passphrase (${PASSPHRASE_ENV} or a prompt)."),
    ] = False,
) -> None:
    """Write an Ed25519 signing key (mode 0600) and its public key; print the key's fingerprint."""
    from consentaudit import attest

    pub = attest.keygen(key, force, _passphrase(confirm=True) if passphrase else None)
    typer.echo(f"wrote {key} (private, mode 0600{', passphrase-protected' if passphrase else ''}) and {pub}")
    typer.echo(f"key fingerprint: {attest.key_fingerprint(pub)}")


@handle_errors
def sign(
    report: Annotated[Path, typer.Argument(help="A JSON report.", metavar="FILE")],
    key: Annotated[
        Path, typer.Option("--key", help="Ed25519 private key (from `consentaudit keygen`).", metavar="KEY")
    ],
) -> None:
    """Write REPORT.sig, a detached signature over the canonical JSON report; print the key's fingerprint."""
    import json

    from consentaudit import attest

    out = attest.sign(report, key, _passphrase() if attest.is_encrypted(key) else None)
    typer.echo(f"wrote {out} (key fingerprint {json.loads(out.read_text())['key_id']})")


@handle_errors
def certify(
    report: Annotated[Path, typer.Argument(help="The JSON report to certify.", metavar="REPORT")],
    key: Annotated[
        Path, typer.Option("--key", help="Ed25519 private key (from `consentaudit keygen`).", metavar="KEY")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Bundle to write: a new folder, or FILE.zip.", metavar="OUT")
    ],
    manifest: Annotated[
        list[Path] | None,
        typer.Option("--manifest", "-m", help="Check a manifest is one the report used; repeatable.", metavar="FILE"),
    ] = None,
    reference: Annotated[
        list[Path] | None,
        typer.Option("--reference", "-r", help="Record a reference set file/folder's sha256.", metavar="SET"),
    ] = None,
    thumbnails: Annotated[
        bool, typer.Option("--thumbnails", help="Thumbnails in audit.html (read from the dataset).")
    ] = False,
) -> None:
    """Write a certification bundle: audit.json, audit.html, audit.md, the exports, the inputs' digests and
    the tool version, with one signature over an index of them all; check it with `verify BUNDLE`."""
    from consentaudit import attest
    from consentaudit.bundle import CertifyRequest, certify
    from consentaudit.inputs import read_report

    with_thumbs = None
    if thumbnails:
        from consentaudit.audit import with_thumbnails

        stored = read_report(report)
        with_thumbs = with_thumbnails(stored, stored.header.options.max_image_pixels)
    req = CertifyRequest(
        report,
        key,
        output,
        _passphrase() if attest.is_encrypted(key) else None,
        tuple(manifest or ()),
        tuple(reference or ()),
        with_thumbs,
    )
    out, index = certify(req)
    pub = key.with_name(key.name + ".pub")
    fp = f" (key fingerprint {attest.key_fingerprint(pub)})" if pub.is_file() else ""
    typer.echo(f"wrote bundle {out}: {len(index['files'])} files and their signed index{fp}")


@handle_errors
def verify(
    report: Annotated[
        Path, typer.Argument(help="A signed JSON report, or a bundle (folder or .zip).", metavar="REPORT|BUNDLE")
    ],
    public_key: Annotated[Path, typer.Option("--public-key", help="The signer's public key.", metavar="KEY")],
    signature: Annotated[
        Path | None, typer.Option("--signature", help="Signature (default: REPORT.sig).", metavar="FILE")
    ] = None,
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset", help="Also check that this dataset is exactly the one the report describes.", metavar="DATASET"
        ),
    ] = None,
) -> None:
    """Check a report's signature, or a bundle's (its index, every file, the exports); with --dataset, also
    that the data still has the report's Merkle root.

    Exit codes: 0 verified, 2 input error, 4 signature invalid (report or bundle changed, or another key),
    5 dataset differs from the report."""
    from consentaudit import attest
    from consentaudit.bundle import is_bundle, verify_bundle

    try:
        if is_bundle(report):
            check = verify_bundle(report, public_key)
            if not check.ok:
                for problem in check.problems:
                    typer.echo(f"  {shown(problem)}", err=True)
                typer.echo(f"BUNDLE INVALID: {report}: {len(check.problems)} problem(s)", err=True)
                raise typer.Exit(EXIT_SIGNATURE)
            typer.echo(
                f"bundle OK: {report}: {len(check.index['files'])} files match the index signed by {public_key} "
                f"(key fingerprint {check.key_id}); consentaudit {check.index.get('tool_version')}"
            )
            doc = check.report or {}
        else:
            sig = signature or report.with_name(report.name + ".sig")
            doc = attest.verify_signature(report, sig, public_key)
            typer.echo(
                f"signature OK: {report} signed by {public_key} (key fingerprint {attest.key_fingerprint(public_key)})"
            )
    except attest.SignatureInvalid as exc:
        typer.echo(f"SIGNATURE INVALID: {shown(exc)}", err=True)
        raise typer.Exit(EXIT_SIGNATURE) from None
    if dataset is None:
        return
    diff = attest.compare_dataset(doc, dataset)
    if diff.matches:
        typer.echo(f"dataset OK: {dataset} has Merkle root {diff.actual_root}")
        return
    typer.echo(f"DATASET DIFFERS: report root {diff.expected_root}, {dataset} root {diff.actual_root}", err=True)
    for label, paths in (("added", diff.added), ("removed", diff.removed), ("changed", diff.changed)):
        for p in paths:
            typer.echo(f"  {label}: {shown(p)}", err=True)
    raise typer.Exit(EXIT_DATASET)
