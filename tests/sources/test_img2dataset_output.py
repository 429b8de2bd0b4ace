"""What img2dataset itself wrote (fixtures/img2dataset, made by its make.sh with img2dataset 1.47.0 from the real
photos served over HTTP, three of them behind `X-Robots-Tag: noai`, one URL missing), in three of its layouts: a
WebDataset tar shard and the `files` folder, each with its crawl parquet, and a Parquet shard holding the images
in its `jpg` column; each with its `_stats.json`. Every expectation is read from img2dataset's own files (its
stats, its parquet rows, its json sidecars), not written here."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES
from consentaudit.cli.app import app
from consentaudit.filter_lists import shard_and_key

OUTPUT = FIXTURES / "img2dataset"
LAYOUTS = ("webdataset", "files", "parquet")
PERSONAL_EXIF = ("ImageDescription", "Artist", "Copyright")  # who made or is shown in the picture


def _crawl_rows(layout: str) -> list[dict[str, object]]:
    path = OUTPUT / layout / "00000.parquet"
    return pq.read_table(path, columns=[n for n in pq.read_schema(path).names if n != "jpg"]).to_pylist()


def _scan(runner: CliRunner, tmp_path: Path, layout: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    report = tmp_path / f"{layout}.json"
    db = f"sqlite:///{tmp_path / (layout + '.db')}"
    args = ["scan", str(OUTPUT / layout), "--db", db, "--fail-on", "none", "--report", str(report)]
    result = runner.invoke(app, [*args, "--report", str(tmp_path / f"{layout}.md")])
    assert result.exit_code == 0, result.output
    return json.loads(report.read_text()), result.output


def _url_of(layout: str, key: str) -> object:
    return next(r["url"] for r in _crawl_rows(layout) if r["key"] == key)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_downloaded_image_is_audited_with_its_crawl_record(
    runner: CliRunner, tmp_path: Path, layout: str
) -> None:
    stats = json.loads((OUTPUT / layout / "00000_stats.json").read_text())
    rows = {str(r["key"]): r for r in _crawl_rows(layout)}
    report, _ = _scan(runner, tmp_path, layout)
    findings = report["findings"]
    assert len(findings) == report["summary"]["images"] == stats["successes"] > 0
    for f in findings:
        key = re.sub(r"\.jpg$", "", f["path"].rsplit("/", 1)[-1])
        row = rows[key]
        assert row["status"] == "success"
        assert f["metadata"]["crawl.url"] == row["url"]
        assert f["metadata"]["crawl.sha256"] == row["sha256"]  # img2dataset's hash of the bytes it downloaded
        assert f["sha256"] != row["sha256"]  # ...which it then resized: the audited bytes are its own
    refused = sum(1 for r in rows.values() if "X-Robots-Tag" in str(r["error_message"] or ""))
    assert refused == stats["status_dict"]["Use of image disallowed by X-Robots-Tag directive"] > 0
    assert report["summary"]["crawl_refusals"] == {"x-robots-tag": refused}


def test_the_layouts_give_the_same_report(runner: CliRunner, tmp_path: Path) -> None:
    """The same download as a tar shard, as a `files` folder and as a Parquet shard: the same images, bytes,
    fingerprints and verdicts, and the same notes. Only img2dataset's `_stats.json` is a file passed over: the
    json sidecars (read as crawl records), the captions and the crawl parquet belong to what is audited, in a
    folder as in a tar (the folder counted every one of them as skipped)."""
    by_layout = {}
    for layout in LAYOUTS:
        report, _ = _scan(runner, tmp_path, layout)
        by_layout[layout] = report
    shard, files, rows = (
        {f["path"].rsplit("/", 1)[-1]: (f["sha256"], f["phash"], f["dhash"], f["verdict"]) for f in r["findings"]}
        for r in by_layout.values()
    )
    assert shard == files == rows and len(shard) > 0
    assert [r["header"]["errors"] for r in by_layout.values()] == [["1 non-image file skipped"]] * 3
    shards = {r["findings"][0]["path"].split("/")[0] for r in by_layout.values()}
    assert shards == {"00000.tar", "00000", "00000.parquet"}
    for layout in ("webdataset", "parquet"):  # keep/drop lists and --out name a shard's sample by its key
        for f in by_layout[layout]["findings"]:
            shard, key = shard_and_key(f["path"])
            assert (shard, f["metadata"]["crawl.url"]) == (f["path"].split("/")[0], _url_of(layout, key))


def test_the_refusals_are_in_the_terminal_summary_and_the_markdown(runner: CliRunner, tmp_path: Path) -> None:
    report, output = _scan(runner, tmp_path, "webdataset")
    refused = report["summary"]["crawl_refusals"]["x-robots-tag"]
    assert f"downloads refused at crawl time (not in the dataset): x-robots-tag {refused}" in output
    markdown = (tmp_path / "webdataset.md").read_text()
    assert "| refused at crawl |" in markdown
    assert re.search(rf"^\| x-robots-tag \| 0 \| 0 \| 0 \| 0 \| 0 \| {refused} \|$", markdown, re.MULTILINE)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_captions_and_exif_of_the_crawl_records_stay_out_of_the_report(
    runner: CliRunner, tmp_path: Path, layout: str
) -> None:
    """img2dataset's crawl records (json sidecars, parquet rows) carry the caption and the original file's EXIF
    (artist, copyright, the description); the report keeps the crawl fields it needs (url, domain, status,
    sha256) and none of these."""
    report, _ = _scan(runner, tmp_path, layout)
    text = (tmp_path / f"{layout}.json").read_text() + (tmp_path / f"{layout}.md").read_text()
    private: set[str] = set()
    for record in _crawl_rows(layout):
        private.add(str(record["caption"]))
        exif = json.loads(str(record["exif"] or "{}"))
        private.update(v for k, v in exif.items() if k.startswith("GPS") or k.split()[-1] in PERSONAL_EXIF)
    private = {p.strip() for p in private if len(p.strip()) > 3}  # a blank or one-word field says nothing
    assert len(private) > 5 and report["findings"]
    assert not [p for p in private if p in text]


@pytest.mark.parametrize("layout", ["webdataset", "files"])
def test_a_crawl_record_too_large_to_read_is_reported(runner: CliRunner, tmp_path: Path, layout: str) -> None:
    """A `<key>.json` past MAX_SIDECAR_BYTES is not read, in a tar shard or beside a file, as before; the report now
    says so (a reservation recorded at crawl time may be in it), and the sample's row of the shard's crawl parquet
    gives its record instead."""
    import shutil
    import tarfile

    from consentaudit.sources.item import MAX_SIDECAR_BYTES

    data = tmp_path / layout
    shutil.copytree(OUTPUT / layout, data)
    key = next(str(r["key"]) for r in _crawl_rows(layout) if r["status"] == "success")
    big = json.dumps({"key": key, "url": "https://example.org/other.jpg", "padding": "x" * MAX_SIDECAR_BYTES})
    if layout == "files":
        (data / "00000" / f"{key}.json").write_text(big)
    else:
        with tarfile.open(OUTPUT / layout / "00000.tar") as src, tarfile.open(data / "00000.tar", "w") as dst:
            for member in src.getmembers():
                body = src.extractfile(member)
                if member.name == f"{key}.json":
                    member.size = len(big)
                    dst.addfile(member, io.BytesIO(big.encode()))
                else:
                    dst.addfile(member, body)
    out = tmp_path / "a.json"
    result = runner.invoke(app, ["scan", str(data), "--db", f"sqlite:///{tmp_path / 'a.db'}", "--report", str(out)])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(out.read_text())
    assert any(f"1 crawl record(s) over {MAX_SIDECAR_BYTES} bytes not read" in e for e in report["header"]["errors"])
    finding = next(f for f in report["findings"] if f["path"].endswith(f"{key}.jpg"))
    assert finding["metadata"]["crawl.url"] == _url_of(layout, key)  # from the parquet row, not the large json
