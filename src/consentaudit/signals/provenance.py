"""Signals of origin and rights: turn what the readers found (XMP values, a C2PA store, a crawl record)
into Signals the policy can weigh. Pure: no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from consentaudit.codec import checked_hex
from consentaudit.models import Signal
from consentaudit.signals.datamining import ALL_MINING
from consentaudit.vocab import (
    AI_TRAINING_PURPOSES,
    CRAWL_PROTOCOLS,
    TRAINING_ASSERTION_PROTOCOLS,
    Purpose,
    SignalProtocol,
)

RELEASE_STATES = {
    "MR-NON": "no model release",
    "MR-NAP": "not applicable",
    "MR-UMR": "unlimited release",
    "MR-LMR": "limited or incomplete release",
}


def _token(value: str) -> str:
    return value.strip().rstrip("/").rsplit("/", 1)[-1]


def xmp_signals(values: Iterable[tuple[str, str]], where: str = "embedded") -> list[Signal]:
    """Model release status and digital source type from the XMP values the metadata reader kept (`where`:
    embedded in the file, or in its XMP sidecar)."""
    out: list[Signal] = []
    for name, value in values:
        if name == "xmp.model_release_status":
            tok = _token(value).upper()
            state = RELEASE_STATES.get(tok, "unknown value")
            out.append(
                Signal(
                    SignalProtocol.MODEL_RELEASE,
                    tok,
                    "XMP plus:ModelReleaseStatus",
                    (),
                    f"{where}, unsigned",
                    raw=state,
                )
            )
        elif name == "xmp.digital_source_type":
            tok = _token(value)
            out.append(
                Signal(
                    SignalProtocol.DIGITAL_SOURCE_TYPE,
                    tok,
                    "XMP Iptc4xmpExt:DigitalSourceType",
                    (),
                    f"{where}, unsigned",
                    raw=value[:200],
                )
            )
    return out


def release_ids(values: Iterable[tuple[str, str]]) -> list[str]:
    return [v for k, v in values if k == "xmp.model_release_id"]


@dataclass(frozen=True)
class C2paFacts:
    """What a C2PA manifest store says, read by the pure-Python reader or validated by c2pa-python."""

    where: str  # "embedded", "sidecar", "remote"
    verification: str  # "unverified", "Valid, signer untrusted", "Trusted", "Invalid: codes", "not fetched"
    training: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()  # (label, key, use, purposes)
    source_types: tuple[str, ...] = ()
    state: str = "present"  # present | remote-only | malformed | invalid
    generator: str | None = None


def c2pa_signals(facts: C2paFacts) -> list[Signal]:
    out = [
        Signal(
            SignalProtocol.C2PA_MANIFEST,
            facts.state,
            f"C2PA manifest ({facts.where})",
            (),
            facts.verification,
            raw=facts.generator,
        )
    ]
    for label, key, use, purposes in facts.training:
        prohibited = use in ("notAllowed", "constrained")
        out.append(
            Signal(
                TRAINING_ASSERTION_PROTOCOLS[label],
                f"{key}={use}",
                f"C2PA {label} ({facts.where})",
                purposes if prohibited else (),
                f"C2PA manifest {facts.verification}",
            )
        )
    for st in facts.source_types:
        out.append(
            Signal(
                SignalProtocol.DIGITAL_SOURCE_TYPE,
                _token(st),
                f"C2PA c2pa.actions ({facts.where})",
                (),
                f"C2PA manifest {facts.verification}",
                raw=st[:200],
            )
        )
    return out


@dataclass(frozen=True)
class CrawlRecord:
    url: str | None
    domain: str | None
    status: str | None
    error: str | None
    headers: tuple[tuple[str, str], ...]
    # img2dataset's `sha256` (its default `--compute_hash`): of the bytes it downloaded, before it resized and
    # re-encoded them, so it names the original the sample was made from (lower-case hex; None if absent)
    sha256: str | None = None


def domain_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def parse_crawl_json(text: str) -> CrawlRecord | None:
    """An img2dataset/WebDataset `<key>.json` sidecar; None when it is not a JSON object."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    return crawl_record(obj)


def crawl_record(obj: Mapping[str, Any]) -> CrawlRecord:
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    headers: dict[str, str] = {}
    raw_headers = obj.get("headers") or obj.get("http_headers") or {}
    if isinstance(raw_headers, dict):
        headers.update({str(k).lower(): str(v) for k, v in raw_headers.items()})
    for key, value in obj.items():
        lk = str(key).lower().replace("_", "-")
        if lk in CRAWL_PROTOCOLS and value is not None:
            headers[lk] = str(value)
    status = obj.get("status")
    err = obj.get("error_message")
    try:
        sha = checked_hex("sha256", obj.get("sha256"))
    except ValueError:  # not a sha256: no claim
        sha = None
    return CrawlRecord(
        url,
        domain_of(url),
        str(status) if status is not None else None,
        str(err)[:300] if err else None,
        tuple(sorted((k, v[:300]) for k, v in headers.items() if k in CRAWL_PROTOCOLS)),
        sha.lower() if sha else None,
    )


def crawl_signals(rec: CrawlRecord) -> list[Signal]:
    """Web-side reservations recorded at crawl time."""
    out: list[Signal] = []
    src = "crawl record"
    for name, value in rec.headers:
        if name == "x-robots-tag":
            directives = {d.strip().lower() for part in value.split(",") for d in part.split(":")[-1:]}
            directives |= {d.strip().lower() for d in re.split(r"[,\s]+", value)}
            hit = sorted(d for d in directives if d in ("noai", "noimageai"))
            if hit:
                out.append(
                    Signal(
                        SignalProtocol.X_ROBOTS_TAG,
                        ",".join(hit),
                        f"{src}: X-Robots-Tag",
                        AI_TRAINING_PURPOSES,
                        "recorded HTTP header",
                        raw=value,
                    )
                )
            else:
                out.append(
                    Signal(
                        SignalProtocol.X_ROBOTS_TAG,
                        "none",
                        f"{src}: X-Robots-Tag",
                        (),
                        "recorded HTTP header",
                        raw=value,
                    )
                )
        elif name == "tdm-reservation":
            reserved = value.strip() == "1"
            out.append(
                Signal(
                    SignalProtocol.TDM_RESERVATION,
                    value.strip(),
                    f"{src}: tdm-reservation",
                    ALL_MINING if reserved else (),
                    "recorded HTTP header",
                    raw=value,
                )
            )
        elif name == "content-usage":
            prefs = {
                k.strip().lower(): v.strip().lower()
                for k, _, v in (p.partition("=") for p in re.split(r"[,;]", value))
                if k.strip()
            }
            prohibits: list[str] = []
            if prefs.get("train-ai") == "n":
                prohibits += list(AI_TRAINING_PURPOSES)
            if prefs.get("train-genai") == "n":
                prohibits.append(Purpose.GENERATIVE_AI_TRAINING)
            if prefs.get("search") == "n":
                prohibits.append(Purpose.SEARCH_INDEXING)
            out.append(
                Signal(
                    SignalProtocol.CONTENT_USAGE,
                    value.strip()[:100],
                    f"{src}: Content-Usage",
                    tuple(dict.fromkeys(prohibits)),
                    "recorded HTTP header",
                    raw=value,
                )
            )
    return out
