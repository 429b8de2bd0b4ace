"""What img2dataset itself wrote (fixtures/img2dataset, made by its make.sh with img2dataset 1.47.0 from the real
photos served over HTTP, three of them behind `X-Robots-Tag: noai`, one URL missing), in both of its layouts: a
WebDataset tar shard and the `files` folder, each with its crawl parquet and `_stats.json`. Every expectation is
read from img2dataset's own files (its stats, its parquet rows, its json sidecars), not written here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import FIXTURES
from consentaudit.cli.app import app

OUTPUT = FIXTURES / "img2dataset"
LAYOUTS = ("webdataset", "files")
PERSONAL_EXIF = ("ImageDescription", "Artist", "Copyright")  # who made or is shown in the picture


def _crawl_rows(layout: str) -> list[dict[str, object]]:
    return pq.read_table(OUTPUT / layout / "00000.parquet").to_pylist()


def _scan(runner: CliRunner, tmp_path: Path, layout: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    report = tmp_path / f"{layout}.json"
    db = f"sqlite:///{tmp_path / (layout + '.db')}"
    args = ["scan", str(OUTPUT / layout), "--db", db, "--fail-on", "none", "--report", str(report)]
    result = runner.invoke(app, [*args, "--report", str(tmp_path / f"{layout}.md")])
    assert result.exit_code == 0, result.output
    return json.loads(report.read_text()), result.output


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


def test_both_layouts_give_the_same_report(runner: CliRunner, tmp_path: Path) -> None:
    """The same download as a tar shard and as a `files` folder: the same images, bytes, fingerprints and
    verdicts, and the same notes. Only img2dataset's `_stats.json` is a file passed over: the json sidecars
    (read as crawl records), the captions and the crawl parquet belong to what is audited, in a folder as in
    a tar (the folder counted every one of them as skipped)."""
    by_layout = {}
    for layout in LAYOUTS:
        report, _ = _scan(runner, tmp_path, layout)
        by_layout[layout] = report
    shard, files = (
        {f["path"].rsplit("/", 1)[-1]: (f["sha256"], f["phash"], f["dhash"], f["verdict"]) for f in r["findings"]}
        for r in by_layout.values()
    )
    assert shard == files and len(shard) > 0
    assert by_layout["webdataset"]["header"]["errors"] == by_layout["files"]["header"]["errors"]
    assert by_layout["files"]["header"]["errors"] == ["1 non-image file skipped"]


def test_the_refusals_are_in_the_terminal_summary_and_the_markdown(runner: CliRunner, tmp_path: Path) -> None:
    report, output = _scan(runner, tmp_path, "webdataset")
    refused = report["summary"]["crawl_refusals"]["x-robots-tag"]
    assert f"downloads refused at crawl time (not in the dataset): x-robots-tag {refused}" in output
    markdown = (tmp_path / "webdataset.md").read_text()
    assert "| refused at crawl |" in markdown
    assert re.search(rf"^\| x-robots-tag \| 0 \| 0 \| 0 \| 0 \| 0 \| {refused} \|$", markdown, re.MULTILINE)


def test_the_sidecars_captions_and_exif_stay_out_of_the_report(runner: CliRunner, tmp_path: Path) -> None:
    """img2dataset's json sidecars carry the caption and the original file's EXIF (artist, copyright, the
    description); the report keeps the crawl fields it needs (url, domain, status, sha256) and none of these."""
    report, _ = _scan(runner, tmp_path, "files")
    text = (tmp_path / "files.json").read_text() + (tmp_path / "files.md").read_text()
    private: set[str] = set()
    for side in (OUTPUT / "files" / "00000").glob("*.json"):
        record = json.loads(side.read_text())
        private.add(record["caption"])
        exif = json.loads(record["exif"] or "{}")
        private.update(v for k, v in exif.items() if k.startswith("GPS") or k.split()[-1] in PERSONAL_EXIF)
    private = {p.strip() for p in private if len(p.strip()) > 3}  # a blank or one-word field says nothing
    assert len(private) > 5 and report["findings"]
    assert not [p for p in private if p in text]


def test_images_inside_its_parquet_output_are_a_finding_not_a_skipped_file(runner: CliRunner, tmp_path: Path) -> None:
    """img2dataset's `--output_format parquet` keeps the images in the parquet's `jpg` column. They are not
    audited, so the file must fail the scan's gate with a reason that says what it holds, never pass as a
    skipped data file; given as the dataset itself, the scan stops with the same reason."""
    folder = OUTPUT / "parquet"
    rows = pq.read_metadata(folder / "00000.parquet").num_rows
    db = f"sqlite:///{tmp_path / 'db'}"
    report = tmp_path / "r.json"
    result = runner.invoke(app, ["scan", str(folder), "--db", db, "--report", str(report)])
    assert result.exit_code == 1, result.output  # the default --fail-on includes unreadable
    (finding,) = json.loads(report.read_text())["findings"]
    assert finding["path"] == "00000.parquet" and finding["verdict"] == "unreadable"
    assert f"holds images in its column 'jpg' ({rows} rows)" in finding["reasons"][0]["detail"]
    alone = runner.invoke(app, ["scan", str(folder / "00000.parquet"), "--db", db])
    assert alone.exit_code == 2
    assert "holds images in its column 'jpg'" in alone.output
