"""The task runner: backends agree, crashed workers are retried, killed runs resume."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abm_hetero.errors import AbmHeteroError
from abm_hetero.training.engine import TaskError, run_tasks


def square(x):
    return x * x


def crash_once(x, marker_dir):
    """Kill the worker process the first time task 3 runs."""
    marker = Path(marker_dir) / f"crashed-{x}"
    if x == 3 and not marker.exists():
        marker.write_text("")
        os._exit(1)
    return x + 100


def always_fails(x):
    raise ValueError(f"bad input {x}")


def logged(x, log):
    with open(log, "a") as fh:
        fh.write(f"{x}\n")
    time.sleep(0.2)
    return x * 10


TASKS = {f"t{i}": (i,) for i in range(6)}


@pytest.mark.parametrize("backend", ["sequential", "local"])
def test_backends_agree(backend):
    streamed = []
    out = run_tasks(square, TASKS, backend=backend, workers=2,
                    on_result=lambda k, v: streamed.append(k))
    assert out == {f"t{i}": i * i for i in range(6)}
    assert sorted(streamed) == sorted(TASKS)


def test_a_killed_worker_is_retried(tmp_path):
    tasks = {i: (i, str(tmp_path)) for i in range(5)}
    out = run_tasks(crash_once, tasks, backend="local", workers=2)
    assert out == {i: i + 100 for i in range(5)}
    assert (tmp_path / "crashed-3").exists()


def test_a_failing_task_is_reported_not_dropped():
    with pytest.raises(TaskError, match="failed 2 times: bad input 1"):
        run_tasks(always_fails, {"a": (1,)}, retries=1)
    with pytest.raises(AbmHeteroError, match="unknown backend"):
        run_tasks(square, TASKS, backend="cluster")


def test_interrupted_run_resumes_without_redoing_finished_tasks(tmp_path):
    cache, log = tmp_path / "cache", tmp_path / "log.txt"
    here = str(Path(__file__).parent)
    script = (
        f"import sys; sys.path.insert(0, {here!r})\n"
        "from test_parallel import logged\n"
        "from abm_hetero.training.engine import run_tasks\n"
        f"run_tasks(logged, {{f'k{{i}}': (i, {str(log)!r}) for i in range(20)}}, "
        f"cache={str(cache)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 60
    while time.time() < deadline and len(list(cache.glob("*.npz"))) < 3:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    finished = {p.stem for p in cache.glob("*.npz")}
    assert 3 <= len(finished) < 20
    before = log.read_text().split()
    out = run_tasks(logged, {f"k{i}": (i, str(log)) for i in range(20)}, cache=cache)
    assert out == {f"k{i}": i * 10 for i in range(20)}
    rerun = log.read_text().split()[len(before):]
    assert not {f"k{x}" for x in rerun} & finished  # nothing finished was redone
    assert len(rerun) == 20 - len(finished)


def test_ray_backend_matches_sequential():
    pytest.importorskip("ray")
    import statistics  # Ray workers import the function by module: use one they can find

    tasks = {f"m{i}": ([i, i + 1, i + 5],) for i in range(8)}
    assert run_tasks(statistics.mean, tasks, backend="ray", workers=2) == run_tasks(
        statistics.mean, tasks)
