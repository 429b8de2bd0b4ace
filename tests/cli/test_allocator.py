"""A command that decodes images keeps large buffers on the heap (glibc): no fresh pages per file."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
from typer.testing import CliRunner

# In a fresh process: allocate and free a 40 MB buffer five times (more than glibc's largest dynamic mmap
# threshold, as a big picture's buffers are), and count the page faults it costs, before and after.
PROBE = """
import resource, sys
from consentaudit.cli import allocator
if sys.argv[1] == "tuned":
    assert allocator.reuse_large_buffers()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    buffer = b"\x01" * (40 << 20)  # written: every page touched
    del buffer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = (40 << 20) // 4096  # page faults one pass over the buffer costs when its pages are fresh


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs Linux with glibc"
)
def test_large_buffers_are_reused_not_mapped_anew() -> None:
    faults = {}
    for mode in ("default", "tuned"):
        done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
        faults[mode] = int(done.stdout)
    assert faults["default"] > 4 * PAGES, faults  # every buffer mapped fresh and returned
    assert faults["tuned"] < 2 * PAGES, faults  # the first one only: then the heap's memory is reused


@pytest.mark.parametrize(
    "args",
    [
        ["scan", "nowhere"],
        ["fingerprint", "nowhere", "-o", "out.jsonl"],
        ["manifest", "init", "nowhere", "-o", "m.csv"],
        ["reference", "build", "name", "nowhere"],
        ["spot-check", "r.json", "--dataset", "nowhere", "--seed", "1"],
    ],
)
def test_commands_that_decode_images_reuse_large_buffers(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from consentaudit.cli import allocator
    from consentaudit.cli.app import app

    calls: list[int] = []
    monkeypatch.setattr(allocator, "reuse_large_buffers", lambda limit=allocator.KEEP_BYTES: calls.append(limit))
    CliRunner().invoke(app, args)
    assert calls == [allocator.KEEP_BYTES], args
