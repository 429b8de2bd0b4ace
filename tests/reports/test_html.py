"""The HTML report: self-contained, escaped, filterable; checked in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, PHOTOS, ROOT, scan_args
from consentaudit.cli.app import app
from consentaudit.vocab import Verdict

ARTIFACTS = Path(os.environ.get("CONSENTAUDIT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
HOSTILE = "<script>alert(1)<script>"


def _hostile_dataset(tmp_path: Path) -> Path:
    ds = tmp_path / "ds"
    ds.mkdir()
    name = f'{HOSTILE}"onerror=alert(2).jpg'
    jpeg = (PHOTOS / "canon-ixus.jpg").read_bytes()
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/" '
        'xmpRights:WebStatement="javascript:alert(3)">'
        "<dc:rights><rdf:Alt><rdf:li>&lt;img src=x onerror=alert(4)&gt;</rdf:li></rdf:Alt></dc:rights>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    (ds / name).write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:])
    (ds / "x.json").write_text(json.dumps({"url": "javascript:alert(5)//<b>x</b>"}))
    shutil.copy(PHOTOS / "kodak-dc210.jpg", ds / "x.jpg")
    return ds


def test_everything_from_a_file_is_escaped(tmp_path: Path) -> None:
    ds = _hostile_dataset(tmp_path)
    out = tmp_path / "r.html"
    result = CliRunner().invoke(
        app, ["scan", str(ds), "--db", f"sqlite:///{tmp_path / 'db'}", "--quiet", "--report", str(out), "--thumbnails"]
    )
    assert result.exit_code == 1, result.output
    page = out.read_text()
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(4)&gt;" in page
    assert 'href="javascript' not in page and "javascript:alert(3)" in page  # shown as text, never a link
    assert page.count("<script>") == 1  # only the report's own inline script
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no external asset
    assert "data:image/jpeg;base64," in page  # thumbnails embedded


def test_thumbnails_only_when_asked_and_unreadable_files_are_never_thumbnailed(tmp_path: Path) -> None:
    """Thumbnails are pictures of the people in the dataset, which no consent record holds: an HTML report
    carries them only under --thumbnails (scan or report), never for an unreadable file."""
    db = f"sqlite:///{tmp_path / 'db'}"
    plain, asked, again = tmp_path / "r.html", tmp_path / "r2.html", tmp_path / "r3.html"
    assert CliRunner().invoke(app, scan_args(DATASET, db, "--report", str(plain))).exit_code == 1
    assert "data:image" not in plain.read_text() and "<th>image</th>" not in plain.read_text()  # no empty column
    assert CliRunner().invoke(app, scan_args(DATASET, db, "--report", str(asked), "--thumbnails")).exit_code == 1
    assert asked.read_text().count("<th>image</th>") == 2  # the problems table and the consented one
    rows = [r for r in asked.read_text().split('<tr class="finding"')[1:]]
    assert all("data:image" not in r for r in rows if 'data-verdict="unreadable"' in r)
    assert sum("data:image" in r for r in rows) == 18  # every readable image
    for flags, shown in (([], False), (["--thumbnails"], True)):
        assert CliRunner().invoke(app, ["report", "1", "--db", db, "-o", str(again), *flags]).exit_code == 0
        assert ("data:image" in again.read_text()) is shown


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(
    _chromium() is None, reason="no Chromium installed (Debian package 'chromium'; .ci/run installs it)"
)
def test_report_in_headless_chromium(tmp_path: Path) -> None:
    pytest.importorskip("selenium", reason="selenium (test extra) not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.skip("no chromedriver installed (Debian package 'chromium-driver')")
    out = tmp_path / "report.html"
    CliRunner().invoke(app, scan_args(DATASET, f"sqlite:///{tmp_path / 'db'}", "--report", str(out)))
    opts = webdriver.ChromeOptions()
    opts.binary_location = _chromium() or ""
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2000",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        driver.get(out.as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "tr.finding")
        assert len(rows) == 22
        # problems first, most severe first; the consented rows are collapsed until asked for
        shown = [r.get_attribute("data-verdict") for r in rows if r.is_displayed()]
        severity = [v.value for v in sorted(Verdict, key=lambda v: -v.severity)]
        n_consented = sum(r.get_attribute("data-verdict") == "consented" for r in rows)
        assert n_consented > 0 and len(shown) == 22 - n_consented
        assert shown == sorted(shown, key=severity.index) and "consented" not in shown
        todo = driver.find_element(By.ID, "todo").find_element(By.XPATH, "following-sibling::ol")
        assert todo.text.splitlines()[0].startswith("unreadable 4 — Repair or remove")
        assert "manifests/fixtures.csv" in driver.find_element(By.CSS_SELECTOR, "section.inputs").text
        driver.find_element(By.CSS_SELECTOR, "details.consented > summary").click()
        assert all(r.is_displayed() for r in rows)
        driver.refresh()
        rows = driver.find_elements(By.CSS_SELECTOR, "tr.finding")
        assert driver.find_element(By.ID, "filters").is_displayed()  # the script ran
        Select(driver.find_element(By.ID, "verdict-filter")).select_by_value("consented")
        assert sum(r.is_displayed() for r in rows) == n_consented  # the filter opens the collapsed section
        Select(driver.find_element(By.ID, "verdict-filter")).select_by_value("")
        Select(driver.find_element(By.ID, "verdict-filter")).select_by_value("revoked")
        shown = [r for r in rows if r.is_displayed()]
        assert len(shown) == 2 and all(r.get_attribute("data-verdict") == "revoked" for r in shown)
        assert driver.find_element(By.ID, "shown-count").text == "2 of 22 shown"
        Select(driver.find_element(By.ID, "verdict-filter")).select_by_value("")
        box = driver.find_element(By.ID, "text-filter")
        box.send_keys("sanyo")
        assert {r.get_attribute("data-verdict") for r in rows if r.is_displayed()} == {"unconsented", "out_of_scope"}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "html-report.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
    finally:
        driver.quit()


def test_html_renders_without_javascript_everything_visible(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    CliRunner().invoke(app, scan_args(DATASET, f"sqlite:///{tmp_path / 'db'}", "--report", str(out)))
    page = out.read_text()
    body = page.split('id="problems"')[1].split("<script>")[0]
    assert page.count('<tr class="finding"') == 22 and " hidden" not in body
    assert '<div id="filters" hidden>' in page  # controls appear only when the script runs
    # what to do comes before the rows, a next step for every verdict present, most severe first
    todo = page.split('id="todo"')[1].split("</ol>")[0]
    assert todo.index("unreadable") < todo.index("revoked") < todo.index("unconsented") < todo.index("consented")
    assert "Remove the image and its near-duplicates now" in todo
    assert page.index('id="todo"') < page.index('id="problems"') < page.index('id="consented"')
    # the inputs: each manifest with its sha256, the reference sets, the settings
    inputs = page.split('class="inputs"')[1]
    assert "fixtures-extra.jsonl" in inputs and "pHash match threshold" in inputs
    for verdict in ("consented", "revoked", "opted_out", "known_scraped", "unreadable"):
        assert f'data-verdict="{verdict}"' in page


def test_chromium_skip_message_is_clear() -> None:
    # the skip reason above names the Debian package, so a skipped run says what to install
    assert "chromium" in (test_report_in_headless_chromium.pytestmark[0].kwargs["reason"])  # type: ignore[attr-defined]
