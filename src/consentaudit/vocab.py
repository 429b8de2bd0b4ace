"""The closed vocabularies: verdicts, consent states, match kinds, purposes, signal protocols and digital
source types. One place each; every other module names them from here. Pure."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    CONSENTED = "consented"
    UNCONSENTED = "unconsented"
    OUT_OF_SCOPE = "out_of_scope"
    EXPIRED = "expired"
    REVOKED = "revoked"
    OPTED_OUT = "opted_out"
    KNOWN_SCRAPED = "known_scraped"
    UNREADABLE = "unreadable"

    @property
    def severity(self) -> int:
        """Higher is worse; when several verdicts apply the most severe one wins (declaration order)."""
        return list(Verdict).index(self)


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"
    DENIED = "denied"


class MatchKind(StrEnum):
    SHA256 = "sha256"
    PATH = "path"
    PERCEPTUAL = "perceptual"
    RELEASE_ID = "release_id"  # the file's plus:ModelReleaseID names the record (record_id or evidence)
    URL = "url"  # the image's recorded source URL is in a reference URL list
    # the sha256 the image's crawl record gives for the bytes downloaded (before a resize) is a reference entry's
    CRAWL_SHA256 = "crawl_sha256"
    DOMAIN = "domain"  # the image's source domain is in a reference domain list


class Purpose(StrEnum):
    """The purposes consentaudit knows; manifests and policy files may declare more (`x-…` or their own)."""

    AI_TRAINING = "ai-training"
    GENERATIVE_AI_TRAINING = "generative-ai-training"
    BIOMETRIC_IDENTIFICATION = "biometric-identification"
    COMMERCIAL = "commercial"
    RESEARCH = "research"
    REDISTRIBUTION = "redistribution"
    DATA_MINING = "data-mining"
    SEARCH_INDEXING = "search-indexing"


PURPOSE_DESCRIPTIONS: dict[Purpose, str] = {
    Purpose.AI_TRAINING: "training any machine-learning model",
    Purpose.GENERATIVE_AI_TRAINING: "training a generative model",
    Purpose.BIOMETRIC_IDENTIFICATION: "training or running 1-to-many identification (needs explicit consent)",
    Purpose.COMMERCIAL: "commercial use of the image",
    Purpose.RESEARCH: "non-commercial research",
    Purpose.REDISTRIBUTION: "redistributing the image in a released dataset",
    Purpose.DATA_MINING: "text and data mining in general",
    Purpose.SEARCH_INDEXING: "indexing for search",
}
KNOWN_PURPOSES: tuple[str, ...] = tuple(p.value for p in Purpose)
# What an "AI training" reservation covers (IPTC DMI-PROHIBITED-AIMLTRAINING, noai, train-ai=n).
AI_TRAINING_PURPOSES: tuple[str, ...] = (
    Purpose.AI_TRAINING,
    Purpose.GENERATIVE_AI_TRAINING,
    Purpose.BIOMETRIC_IDENTIFICATION,
)


def unknown_purposes(requested: Iterable[str], declared: Iterable[str] = ()) -> list[tuple[str, str | None]]:
    """(purpose, closest known purpose or None) for each requested purpose that is neither known, declared
    (by a policy file or used by a manifest record) nor an `x-` extension."""
    known = {*KNOWN_PURPOSES, *declared}
    return [
        (p, next(iter(difflib.get_close_matches(p, sorted(known), n=1, cutoff=0.6)), None))
        for p in requested
        if p not in known and not p.startswith("x-")
    ]


class SignalProtocol(StrEnum):
    """Where a rights or origin statement comes from."""

    IPTC_DATA_MINING = "iptc-data-mining"
    C2PA_TRAINING_MINING = "c2pa-training-mining"
    CAWG_TRAINING_MINING = "cawg-training-mining"
    C2PA_MANIFEST = "c2pa-manifest"
    DIGITAL_SOURCE_TYPE = "digital-source-type"
    MODEL_RELEASE = "model-release"
    X_ROBOTS_TAG = "x-robots-tag"
    TDM_RESERVATION = "tdm-reservation"
    CONTENT_USAGE = "content-usage"


# Signals recorded at crawl time (the policy file's [crawl_signals] honour list names these).
CRAWL_PROTOCOLS: tuple[str, ...] = (
    SignalProtocol.X_ROBOTS_TAG,
    SignalProtocol.TDM_RESERVATION,
    SignalProtocol.CONTENT_USAGE,
)
# Signals that can opt an image out (the summary's compliance table has a row for each).
OPT_OUT_PROTOCOLS: tuple[str, ...] = (
    SignalProtocol.IPTC_DATA_MINING,
    SignalProtocol.C2PA_TRAINING_MINING,
    SignalProtocol.CAWG_TRAINING_MINING,
    *CRAWL_PROTOCOLS,
)
# C2PA/C2PA label of a training-and-data-mining assertion -> its protocol.
TRAINING_ASSERTION_PROTOCOLS: dict[str, SignalProtocol] = {
    "c2pa.training-mining": SignalProtocol.C2PA_TRAINING_MINING,
    "cawg.training-mining": SignalProtocol.CAWG_TRAINING_MINING,
}


class DigitalSourceType(StrEnum):
    """IPTC digital source types that say a model made the picture."""

    TRAINED_ALGORITHMIC_MEDIA = "trainedAlgorithmicMedia"
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = "compositeWithTrainedAlgorithmicMedia"


AI_SOURCE_TYPES: tuple[str, ...] = tuple(t.value for t in DigitalSourceType)


class AiGenerated(StrEnum):
    """What the policy does with an AI-generated image."""

    FLAG = "flag"  # a note, verdict unchanged
    EXCLUDE = "exclude"  # out_of_scope
    IGNORE = "ignore"


# Metadata a scan keeps only under --keep-sensitive-metadata (signals/metadata.py reads it): the EXIF caption,
# which may name or describe the people shown, and "exif.sensitive.*" (GPS position, camera serial numbers)
SENSITIVE_CAPTION = "exif.description"
SENSITIVE_PREFIX = "exif.sensitive."


def is_sensitive_metadata(name: str) -> bool:
    """Whether a finding's metadata entry is one that only --keep-sensitive-metadata keeps."""
    return name == SENSITIVE_CAPTION or name.startswith(SENSITIVE_PREFIX)


# A JPEG XL file that recompresses a JPEG losslessly: the sha256 of the JPEG it rebuilds bit for bit (a reported
# metadata value), and the `hash` of a match through it. It ties the file as the JPEG's own sha256 would: it is
# computed from the bytes, not claimed by them.
REBUILT_JPEG_SHA256 = "jxl.jpeg_sha256"
REBUILT_JPEG = "jpeg rebuilt from JPEG XL"
