"""Members of a zip no zip reader can list, recovered from their local headers: what zipfile itself reads
from the whole archive, and a precise refusal where the bytes cannot be trusted (a CRC that does not match,
a member that inflates past the limit, encryption, a method not read here, Zip64 sizes)."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from conftest import PHOTOS
from consentaudit.sources.zip_salvage import LOCAL_HEADER, local_members, read_member

PHOTO = (PHOTOS / "canon-ixus.jpg").read_bytes()


def _walk(data: bytes, limit: int = 1 << 30) -> tuple[dict[str, bytes | str], str]:
    """Each recovered member's bytes (or why they cannot be read), and where the walk stopped."""
    f = io.BytesIO(data)
    members, stop = local_members(f, len(data), limit)
    out: dict[str, bytes | str] = {}
    for m in members:
        try:
            out[m.name] = read_member(f, m, limit)
        except OSError as exc:
            out[m.name] = str(exc)
    return out, stop


def _no_directory(data: bytes) -> bytes:
    """The archive without its central directory (as a cut at the last member's end leaves it)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        start: int = zf.start_dir  # type: ignore[attr-defined]  # where zipfile found the central directory
    return data[:start]


def test_members_are_what_zipfile_reads_from_the_whole_archive() -> None:
    """Zip64 sizes, a UTF-8 name, an extra field before the data (Info-ZIP writes a timestamp there), a
    folder: each recovered as zipfile reads it when the central directory is there."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("big/0001.jpg", "w", force_zip64=True) as m:
            m.write(PHOTO)
        info = zipfile.ZipInfo("photos/émile.jpg", date_time=(2024, 5, 6, 7, 8, 10))
        info.extra = struct.pack("<HHBI", 0x5455, 5, 1, 1_700_000_000)  # UT: modification time
        zf.writestr(info, PHOTO[:5000])
        zf.writestr("empty/", b"")
    data = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        want = {i.filename: zf.read(i) for i in zf.infolist()}
    got, stop = _walk(_no_directory(data))
    assert got == want
    assert "ends" in stop and "without a central directory" in stop
    f = io.BytesIO(data)
    (m, *_), _ = local_members(f, len(data), 1 << 30)
    assert m.size == len(PHOTO) and m.date_time[0] >= 1980


def test_a_member_whose_crc_does_not_match_is_refused_and_the_next_is_read() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jpg", PHOTO)
        zf.writestr("b.jpg", PHOTO[::-1])
    data = bytearray(_no_directory(buf.getvalue()))
    data[30 + len("a.jpg") + 1000] ^= 0xFF  # one byte of a.jpg's data
    got, _ = _walk(bytes(data))
    assert isinstance(got["a.jpg"], str) and "CRC" in got["a.jpg"]
    assert got["b.jpg"] == PHOTO[::-1]


def test_no_member_is_inflated_past_the_limit() -> None:
    """A member whose header claims a small size but that inflates to more than the limit (a zip bomb), and
    one streamed (sizes after the data) that would have to be inflated past it to find its end."""
    bomb = b"\0" * (4 << 20)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.jpg", bomb)
    data = bytearray(_no_directory(buf.getvalue()))
    data[22:26] = struct.pack("<I", 100)  # the uncompressed size the header gives: 100 bytes
    got, _ = _walk(bytes(data), limit=1 << 20)
    assert isinstance(got["bomb.jpg"], str) and "limit" in got["bomb.jpg"]
    stored = io.BytesIO()  # a stored member whose header claims 100 bytes: its data is not read in whole
    with zipfile.ZipFile(stored, "w") as zf:
        zf.writestr("big.jpg", bomb)
    data = bytearray(_no_directory(stored.getvalue()))
    data[22:26] = struct.pack("<I", 100)
    got, _ = _walk(bytes(data), limit=1 << 20)
    assert isinstance(got["big.jpg"], str) and "limit" in got["big.jpg"]

    stream = _Unseekable()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.jpg", bomb)
    members, stop = local_members(io.BytesIO(stream.out.getvalue()), len(stream.out.getvalue()), 1 << 20)
    assert members[0].problem and "bomb.jpg" in stop and "not listed" in stop


def test_encrypted_or_unsupported_members_are_named_and_the_walk_goes_on() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("locked.jpg", PHOTO)
        zf.writestr("b.jpg", PHOTO)
        zf.writestr("c.jpg", PHOTO, compress_type=zipfile.ZIP_BZIP2)
        zf.writestr("d.jpg", PHOTO)
    data = bytearray(_no_directory(buf.getvalue()))
    data[6] |= 0x1  # locked.jpg: the encryption flag
    got, _ = _walk(bytes(data))
    assert "encrypted" in str(got["locked.jpg"])
    assert "compression method 12" in str(got["c.jpg"])
    assert got["b.jpg"] == got["d.jpg"] == PHOTO


@pytest.mark.parametrize("at", ["inside a header", "garbage", "central directory"])
def test_the_walk_says_where_it_stopped(at: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jpg", PHOTO)
    whole = buf.getvalue()
    first = _no_directory(whole)
    tail = {"inside a header": LOCAL_HEADER + b"\0" * 10, "garbage": b"not a zip at all", "central directory": b""}
    data = first + tail[at] if at != "central directory" else whole[: len(whole) - 10]
    got, stop = _walk(data)
    assert got == {"a.jpg": PHOTO}
    expected = {"inside a header": "header", "garbage": "no member header", "central directory": "central directory"}
    assert expected[at] in stop and str(len(first)) in stop


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.out = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        return self.out.write(b)  # type: ignore[arg-type]
