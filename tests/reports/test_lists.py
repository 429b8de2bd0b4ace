"""Keep/drop lists and the takedown list a pipeline applies, from a real shard audit."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner, Result

from conftest import DATASET, FIXTURES, MANIFESTS, scan_args
from consentaudit.cli.app import app
from consentaudit.filter_lists import shard_and_key

R = CliRunner()


def test_keep_and_drop_partition_the_findings_and_the_takedown_list_holds_revocations(tmp_path: Path) -> None:
    report = tmp_path / "audit.json"
    assert R.invoke(app, scan_args(DATASET, f"sqlite:///{tmp_path / 'db'}", "--report", str(report))).exit_code == 1
    out = tmp_path / "lists"
    result = R.invoke(app, ["lists", str(report), "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(report.read_text())
    verdicts = {f["path"]: f["verdict"] for f in doc["findings"]}
    keep = (out / "keep.txt").read_text().splitlines()
    drop = (out / "drop.txt").read_text().splitlines()
    assert sorted(keep + drop) == sorted(verdicts) and not set(keep) & set(drop)
    assert all(verdicts[p] == "consented" for p in keep) and keep
    table = pq.read_table(out / "filter.parquet").to_pylist()
    assert {r["path"]: r["keep"] for r in table} == {p: p in keep for p in verdicts}
    takedown = [json.loads(line) for line in (out / "takedown.jsonl").read_text().splitlines()]
    expected = {f["sha256"] for f in doc["findings"] if f["verdict"] in ("revoked", "opted_out") and f["sha256"]}
    assert {t["sha256"] for t in takedown} == expected and expected
    wider = R.invoke(app, ["lists", str(report), "-o", str(tmp_path / "wide"), "--keep", "consented,unconsented"])
    assert wider.exit_code == 0
    assert len((tmp_path / "wide" / "keep.txt").read_text().splitlines()) > len(keep)
    bad = R.invoke(app, ["lists", str(report), "-o", str(tmp_path / "x"), "--keep", "fine"])
    assert bad.exit_code == 2 and "--keep: 'fine' is not a verdict" in bad.output


def test_shard_members_carry_their_shard_and_key(tmp_path: Path) -> None:
    assert shard_and_key("00012.tar/000120034.jpg") == ("00012.tar", "000120034")
    assert shard_and_key("part/00001.tar/sub/x.png") == ("part/00001.tar", "sub/x")
    assert shard_and_key("loose/photo.jpg") == (None, "loose/photo")
    assert shard_and_key("00001.tar/a.b/x.seg.png") == ("00001.tar", "a.b/x")  # WebDataset's sample key
    report = tmp_path / "shards.json"
    args = ["scan", str(FIXTURES / "shards"), "-m", str(MANIFESTS / "fixtures-shards.csv"), "--as-of", "2026-11-26"]
    R.invoke(app, [*args, "--db", f"sqlite:///{tmp_path / 'db'}", "-q", "--report", str(report)])
    assert R.invoke(app, ["lists", str(report), "-o", str(tmp_path / "l")]).exit_code == 0
    rows = [json.loads(x) for x in (tmp_path / "l" / "filter.jsonl").read_text().splitlines()]
    assert rows and all(r["shard"] == "00000.tar" and r["path"] == f"00000.tar/{r['key']}.jpg" for r in rows)


def _scanned_lists(root: Path, tmp_path: Path) -> tuple[Result, Path]:
    """`lists --keep unconsented` of a fresh scan of `root`: the command's result and its folder."""
    report = tmp_path / "audit.json"
    args = ["scan", str(root), "--db", f"sqlite:///{tmp_path / 'db'}", "-q", "--fail-on", "none"]
    assert R.invoke(app, [*args, "--report", str(report)]).exit_code == 0
    out = tmp_path / "lists"
    return R.invoke(app, ["lists", str(report), "-o", str(out), "--keep", "unconsented"]), out


def test_a_path_with_a_line_break_is_in_no_line_list_and_the_command_says_so(tmp_path: Path) -> None:
    """An image named `drop<LF>keep.jpg` beside `keep.jpg`: as a line it would be two lines, one naming
    nothing and one naming the other image, so a pipeline reading drop.txt would never drop it (and one
    reading keep.txt would keep the wrong name). It is in neither line list (an allow list then never keeps
    it), the tables carry it exactly, and the command exits 2 naming it, escaped."""
    import shutil

    from conftest import PHOTOS

    root = tmp_path / "ds"
    root.mkdir()
    photos = sorted(PHOTOS.glob("*.jpg"))
    shutil.copy(photos[0], root / "drop\nkeep.jpg")
    shutil.copy(photos[1], root / "keep.jpg")
    result, out = _scanned_lists(root, tmp_path)
    assert result.exit_code == 2
    assert "1 path(s) cannot be a line" in result.output and "drop\\x0akeep.jpg" in result.output
    assert (out / "keep.txt").read_text() == "keep.jpg\n"
    assert (out / "drop.txt").read_text() == ""
    rows = [json.loads(line) for line in (out / "filter.jsonl").read_text().splitlines()]
    assert {r["path"] for r in rows} == {"drop\nkeep.jpg", "keep.jpg"}


def test_a_path_the_report_shows_escaped_or_shortened_is_in_no_line_list(tmp_path: Path) -> None:
    """A file whose name holds the byte 0xff is shown `a\\xff.jpg`, and one under a path longer than a store
    keeps is shown by a shortened key: neither line names its file, so a pipeline removing drop.txt's
    entries would keep them. They are in neither line list, the tables list them with their sha256, and the
    command exits 2 naming them."""
    import os
    import shutil

    from conftest import PHOTOS

    root = tmp_path / "ds"
    root.mkdir()
    photos = sorted(PHOTOS.glob("*.jpg"))
    shutil.copy(photos[0], (os.fsencode(str(root)) + b"/a\xff.jpg").decode("utf-8", "surrogateescape"))
    shutil.copy(photos[1], root / "plain.jpg")
    deep = root.joinpath(*["d" * 200] * 11)
    deep.mkdir(parents=True)
    shutil.copy(photos[2], deep / "long.jpg")
    result, out = _scanned_lists(root, tmp_path)
    assert result.exit_code == 2 and "2 path(s) cannot be a line" in result.output, result.output
    assert "a\\xff.jpg" in result.output
    assert (out / "keep.txt").read_text() == "plain.jpg\n"
    assert (out / "drop.txt").read_text() == ""
    rows = [json.loads(line) for line in (out / "filter.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and {r["path"] for r in rows} >= {"a\\xff.jpg", "plain.jpg"}
    assert all(r["sha256"] for r in rows if r["path"] == "a\\xff.jpg")


def test_an_earlier_copy_of_a_repeated_member_is_in_no_line_list(tmp_path: Path) -> None:
    """A shard holding `a.jpg` twice: the earlier copy is audited as `00000.tar/a.jpg (copy 1 of 2)`, which
    names no member, so it is in neither line list; the last copy, under the plain name, is listed."""
    import io
    import tarfile

    from conftest import PHOTOS

    root = tmp_path / "ds"
    root.mkdir()
    with tarfile.open(root / "00000.tar", "w") as tf:
        for photo in sorted(PHOTOS.glob("*.jpg"))[:2]:
            data = photo.read_bytes()
            info = tarfile.TarInfo("a.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    result, out = _scanned_lists(root, tmp_path)
    assert result.exit_code == 2 and "00000.tar/a.jpg (copy 1 of 2)" in result.output, result.output
    assert (out / "keep.txt").read_text() == "00000.tar/a.jpg\n"
    assert (out / "drop.txt").read_text() == ""
