"""Helpers of the tests that start the console command and kill it (Linux ``/proc``)."""

import signal
import subprocess
import sys
from pathlib import Path

COMMAND = [sys.executable, "-m", "abm_hetero.cli"]


def start(args, cwd) -> subprocess.Popen:
    return subprocess.Popen([*COMMAND, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; False if it had already finished."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
