"""Run timed commands from a small process, so each one's peak RSS is its own.

Linux folds the peak RSS of the process that spawns a command into the command's own (`ru_maxrss` survives
exec; with vfork, as subprocess uses, the spawner's high-water mark is taken at exec): a command started
by a bench process that once held 300 MB reports at least 300 MB, whatever it used. A bench that builds
data or runs an audit in-process would print its own peak for every scan. This launcher is a separate
Python process started before the bench allocates anything; it runs each command, waits for it and
answers with its wall time, exit code and peak RSS (`wait4`), floored only by the launcher's own ~10 MB.
Each command gets the bench's environment as it is when the command is asked for, not as it was when the
launcher started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

_LOOP = r"""
import json, os, subprocess, sys, time
out = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # the commands' output never reaches the answers' pipe
for line in sys.stdin:
    req = json.loads(line)
    t = time.perf_counter()
    p = subprocess.Popen(req["cmd"], stdout=subprocess.DEVNULL if req["quiet"] else None, env=req["env"])
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    out.write(json.dumps([wall, os.waitstatus_to_exitcode(status), usage.ru_maxrss // 1024]) + "\n")
    out.flush()
"""


class Launcher:
    """`run(cmd)` -> (wall seconds, exit code, peak RSS in MB of the command's largest process)."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _LOOP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, cmd: list[str], quiet: bool = True) -> tuple[float, int, int]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        request = {"cmd": cmd, "quiet": quiet, "env": dict(os.environ)}  # the bench's environment as it is now
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        answer: list[Any] = json.loads(self._proc.stdout.readline())
        return float(answer[0]), int(answer[1]), int(answer[2])


_LAUNCHER: Launcher | None = None


def launcher() -> Launcher:
    """The bench's one launcher, started on first use (call it before building data in-process)."""
    global _LAUNCHER
    if _LAUNCHER is None:
        _LAUNCHER = Launcher()
    return _LAUNCHER
