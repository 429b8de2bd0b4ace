"""A regulator's spot-check of a received report, on a real-photo audit: the honest report passes, one with
a third of its verdicts flipped fails and names the flipped paths it drew; the bound is exact and covers."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATASET, MANIFESTS, PHOTOS, SCRAPED, scan_args
from consentaudit.cli.app import app
from consentaudit.sampling import binomial_cdf, clopper_pearson_upper, rng_for, stratified_sample, uniform_sample

R = CliRunner()


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixtures' audit (22 images made from real camera photos) and a copy of its dataset."""
    tmp = tmp_path_factory.mktemp("spot")
    data = tmp / "data"
    shutil.copytree(DATASET, data)
    report = tmp / "audit.json"
    result = R.invoke(app, scan_args(data, f"sqlite:///{tmp / 'vendor.db'}", "--report", str(report)))
    assert result.exit_code == 1, result.output
    return report, data


def _spot(report: Path, data: Path, *extra: str) -> tuple[int, str]:
    args = [
        "spot-check", str(report), "--dataset", str(data),
        "-m", str(MANIFESTS / "fixtures.csv"), "-m", str(MANIFESTS / "fixtures-extra.jsonl"),
        "-r", str(SCRAPED), "--sample", "22", "--seed", "beacon-2026-12-01", "--tolerance", "0.2", *extra,
    ]  # fmt: skip
    result = R.invoke(app, args)
    return result.exit_code, result.output


def test_the_honest_report_passes(audit: tuple[Path, Path], tmp_path: Path) -> None:
    report, data = audit
    code, output = _spot(report, data, "--out", str(tmp_path / "spot.json"))
    assert code == 0, output
    assert "0 disagreeing" in output and "PASSED" in output
    doc = json.loads((tmp_path / "spot.json").read_text())
    assert doc["summary"]["errors"] == 0 and doc["summary"]["sample_size"] == 22
    assert doc["summary"]["upper_bound"] == pytest.approx(clopper_pearson_upper(0, 22, 0.95))
    assert (tmp_path / "spot.json.md").read_text().startswith("# Spot-check of")
    key = tmp_path / "k"
    assert R.invoke(app, ["keygen", str(key)]).exit_code == 0
    assert R.invoke(app, ["sign", str(tmp_path / "spot.json"), "--key", str(key)]).exit_code == 0  # signable


def test_a_report_with_a_third_of_its_verdicts_flipped_fails(audit: tuple[Path, Path], tmp_path: Path) -> None:
    report, data = audit
    doc = json.loads(report.read_text())
    findings = doc["findings"]
    flipped = set()
    for f in random.Random(3).sample(findings, len(findings) // 3):
        f["verdict"] = "consented" if f["verdict"] != "consented" else "unconsented"
        flipped.add(f["path"])
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(doc, indent=2, sort_keys=True))
    code, output = _spot(forged, data)
    assert code == 1, output
    assert "FAILED" in output
    named = {line.split(": ", 2)[1] for line in output.splitlines() if line.startswith("VERDICT: ")}
    assert named == flipped  # every finding was drawn (sample = population): every flip is named
    diff = R.invoke(app, ["diff", str(report), str(forged)])
    assert diff.exit_code == 1
    assert all(p in diff.output for p in flipped)


def test_changed_bytes_are_disagreements(audit: tuple[Path, Path], tmp_path: Path) -> None:
    report, data = audit
    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    target = changed / "consented" / "canon-ixus.jpg"
    target.write_bytes((PHOTOS / "kodak-dc210.jpg").read_bytes())
    code, output = _spot(report, changed, "--tolerance", "0.05")  # 1 in 22 gives a bound of ~0.2
    assert code == 1 and "BYTES: consented/canon-ixus.jpg" in output


def test_samples_are_reproducible_and_tied_to_the_report() -> None:
    paths = [f"p{i:04d}" for i in range(1000)]
    a = uniform_sample(paths, 50, rng_for("seed", "report-1"))
    assert a == uniform_sample(paths, 50, rng_for("seed", "report-1"))
    assert a != uniform_sample(paths, 50, rng_for("seed", "report-2"))
    assert a != uniform_sample(paths, 50, rng_for("other", "report-1"))
    verdicts = {p: ("consented" if i % 10 else "revoked") for i, p in enumerate(paths)}
    s = stratified_sample(verdicts, 50, rng_for("seed", "r"))
    assert len(s) == 50 and sum(verdicts[p] == "revoked" for p in s) == 5


def test_the_bound_is_exact_and_covers() -> None:
    from scipy.stats import beta

    for n in (20, 300):
        for k in (0, 1, 5):
            assert clopper_pearson_upper(k, n, 0.95) == pytest.approx(beta.ppf(0.95, k + 1, n - k), abs=1e-12)
    # coverage: for a true error rate p, P(bound >= p) >= 95% exactly (sum over the binomial outcomes)
    for p in (0.005, 0.01, 0.03, 0.1):
        n = 300
        covered = sum(
            binomial_cdf(k, n, p) - (binomial_cdf(k - 1, n, p) if k else 0.0)
            for k in range(n + 1)
            if clopper_pearson_upper(k, n, 0.95) >= p
        )
        assert covered >= 0.95 - 1e-9, (p, covered)


def test_group_members_are_reread_only_when_a_record_can_revoke(
    audit: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a revocation spreads through a duplicate group: with no revocable record the members of a sampled
    image's group cannot change its verdict and are not read; with one they are; a revocation the report hid
    is caught."""
    from consentaudit import spotcheck
    from consentaudit.mapper import UnitMapper

    report, data = audit
    read: list[str] = []
    original = UnitMapper.__call__

    def counting(self: UnitMapper, unit: list[object]) -> object:
        read.extend(i.path for i in unit)  # type: ignore[attr-defined]
        return original(self, unit)  # type: ignore[arg-type]

    monkeypatch.setattr(UnitMapper, "__call__", counting)

    def run(*manifests: Path) -> spotcheck.SpotCheckResult:
        read.clear()
        req = spotcheck.SpotCheckRequest(report, data, manifests, (SCRAPED,), sample=22, seed="s", tolerance=0.5)
        return spotcheck.run_spot_check(req)

    run(MANIFESTS / "fixtures.csv")  # grants only: every sampled image read once, nothing else
    assert len(read) == len(set(read)) == 22
    # a sample of one image of a group, with the revocable record: its group partner is read too
    doc = json.loads(report.read_text())
    hidden = next(f for f in doc["findings"] if f["path"] == "revoked/olympus-c960.jpg")
    hidden.update(verdict="consented", reasons=[{"verdict": "consented", "detail": "forged"}])
    forged = report.with_name("forged.json")
    forged.write_text(json.dumps(doc))
    req = spotcheck.SpotCheckRequest(
        forged, data, (MANIFESTS / "fixtures.csv", MANIFESTS / "fixtures-extra.jsonl"), (SCRAPED,),
        sample=22, seed="s", tolerance=0.5,
    )  # fmt: skip
    read.clear()
    result = spotcheck.run_spot_check(req)
    assert "revoked/olympus-c960.jpg" in {d.path for d in result.disagreements}
    req = spotcheck.SpotCheckRequest(forged, data, (MANIFESTS / "fixtures.csv",), (SCRAPED,), sample=1, seed="s")
    for seed in (str(n) for n in range(200)):  # a seed that samples one member of a group, alone
        read.clear()
        res = spotcheck.run_spot_check(spotcheck.SpotCheckRequest(**{**req.__dict__, "seed": seed}))
        if res.sampled[0] in ("revoked/olympus-c960-small.jpg", "consented/canon-ixus.jpg"):
            assert read == [res.sampled[0]]  # no revocable record: the partner is not read
            revocable = spotcheck.SpotCheckRequest(
                **{**req.__dict__, "seed": seed, "manifests": (*req.manifests, MANIFESTS / "fixtures-extra.jsonl")}
            )
            read.clear()
            spotcheck.run_spot_check(revocable)
            assert len(read) == 2 and res.sampled[0] in read  # with one: the group is re-read
            break
    else:
        pytest.fail("no seed in 200 drew a group member")
