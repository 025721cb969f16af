"""Helpers of the tests that start the console command (the page's server among them) and kill
it (Linux ``/proc``)."""

import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving_page(*options: str, timeout: float = 120) -> Iterator[int]:
    """Run ``abm-hetero viz`` (with ``options``) on a free port until the block ends; yields
    the port once the page answers. Its output goes to a file (a full pipe would stall it)."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([*COMMAND, "viz", "--port", str(port), *options],
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while not _answers(f"http://127.0.0.1:{port}/"):
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                proc.wait()
                log.seek(0)
                raise RuntimeError(f"the page did not come up: {log.read()[-2000:]}")
            time.sleep(0.5)
        try:
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
