"""IPTC/PLUS Data Mining values: normalise what files say and map it to the purposes it prohibits. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from consentaudit.models import Signal
from consentaudit.vocab import AI_TRAINING_PURPOSES, KNOWN_PURPOSES, SignalProtocol

PROTOCOL = SignalProtocol.IPTC_DATA_MINING
VOCAB_URI = "http://ns.useplus.org/ldf/vocab/"

ALL_MINING = tuple(KNOWN_PURPOSES)

# What each value prohibits (NOTES.md): the absence of a prohibition is never a permission.
PROHIBITS: dict[str, tuple[str, ...]] = {
    "DMI-UNSPECIFIED": (),
    "DMI-ALLOWED": (),
    "DMI-PROHIBITED-AIMLTRAINING": AI_TRAINING_PURPOSES,
    "DMI-PROHIBITED-GENAIMLTRAINING": ("generative-ai-training",),
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": tuple(p for p in ALL_MINING if p != "search-indexing"),
    "DMI-PROHIBITED": ALL_MINING,
    "DMI-PROHIBITED-SEECONSTRAINT": ALL_MINING,
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR": ALL_MINING,
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR": ALL_MINING,
}
_SQUASHED = {re.sub(r"[^A-Z]", "", k): k for k in PROHIBITS}


def normalise(value: str) -> str | None:
    """The canonical token for a URI, bare token or sloppy spelling; None when it is not a DMI value."""
    text = value.strip()
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    squashed = re.sub(r"[^A-Z]", "", text.upper())
    if not squashed.startswith("DMI"):
        squashed = "DMI" + squashed
    return _SQUASHED.get(squashed)


def signal(value: str, source: str = "XMP plus:DataMining", where: str = "embedded") -> Signal:
    """A Signal for one plus:DataMining value (`where`: embedded in the file, or in its XMP sidecar); an
    unrecognised value is kept as 'invalid'."""
    token = normalise(value)
    if token is None:
        return Signal(PROTOCOL, "invalid", source, (), f"{where}, unsigned", raw=value[:200])
    return Signal(PROTOCOL, token, source, PROHIBITS[token], f"{where}, unsigned", raw=value[:200])


def state(sig: Signal, purposes: Sequence[str] | None = None) -> str:
    """allowed / prohibited / unspecified / invalid, the three IPTC states plus unreadable values.
    With `purposes`, "prohibited" means it prohibits one of them; a value that prohibits only other
    purposes says nothing about these ("unspecified")."""
    if sig.value == "invalid":
        return "invalid"
    if sig.prohibits:
        if purposes is not None and not set(sig.prohibits) & set(purposes):
            return "unspecified"
        return "prohibited"
    return "allowed" if sig.value == "DMI-ALLOWED" else "unspecified"
