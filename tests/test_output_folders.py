"""The folder rule of every command that writes (abm_hetero/output.py): the package writes only
into a folder it created or found empty, --force replaces only a marked folder, leftovers are
recognised by a recorded token (never by name), every check is made again at the final swap, a
lock stops a second writer at once, and odd paths and system limits end in one line."""

import errno
import fcntl
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from abm_hetero import output
from abm_hetero.cli import main
from abm_hetero.commands import simulate as simulate_command
from abm_hetero.output import LOCK_SUFFIX, MARKER

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="flock, renameat2, /proc")

SIM = ["simulate", "--ticks", "5", "--traders", "5", "--quiet"]
TINY_TRAINING = {"total_steps": 100, "traders": 5, "episode_ticks": 20, "warmup_ticks": 2,
                 "episodes_per_rollout": 1, "eval_interval": 10 ** 9, "eval_episodes": 1,
                 "hidden": [8]}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) and its contents."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def user_folder(where: Path) -> Path:
    """A folder of the user's, with hidden files that look like the package's own."""
    folder = where / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("years of work")
    (folder / "metrics.csv").write_text("my,own\n1,2\n")
    (folder / ".checkpoint.pt.abc123").write_text("my hidden file")
    (folder / ".best.pt.bak").write_text("my backup")
    return folder


def tiny_training(tmp_path: Path) -> str:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_TRAINING))
    return str(path)


def command(name: str, out: str, tmp_path: Path) -> list[str]:
    """Each command that writes a folder, with the smallest settings, into ``out``."""
    return {
        "simulate": [*SIM, "--out", out],
        "simulate --force": [*SIM, "--out", out, "--force"],
        "run --force": ["run", "--seeds", "1", "--ticks", "400", "--traders", "5",
                        "--scenarios", "fcn", "--quiet", "--out", out, "--force"],
        "diagnose --force": ["diagnose", "--seeds", "1", "--ticks", "5", "--traders", "5",
                             "--out", out, "--force"],
        "train": ["train", "--settings", tiny_training(tmp_path), "--quiet", "--out", out],
        "train --resume": ["train", "--resume", "--quiet", "--out", out],
        "calibrate": ["calibrate", "--quiet", "--no-scenarios", "--out", out],
    }[name]


COMMANDS = ["simulate", "simulate --force", "run --force", "diagnose --force", "train",
            "train --resume", "calibrate"]


# ------------------------------------------------------------------ user folders


@pytest.mark.parametrize("name", COMMANDS)
def test_no_command_writes_into_or_marks_a_folder_of_the_users(tmp_path, cli_error, name):
    mine = user_folder(tmp_path)
    before = snapshot(mine)
    line = cli_error(command(name, str(mine), tmp_path))
    assert str(mine) in line and ("not one" in line or "not a" in line or "--force" in line)
    assert snapshot(mine) == before and not (mine / MARKER).exists()
    # nothing was planted that a later --force could take for a run of the package's
    assert "not one" in cli_error([*SIM, "--out", str(mine), "--force"])
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "tiny.json") == ["mine"]


@pytest.mark.parametrize("name", ["simulate", "train", "calibrate"])
def test_an_output_that_is_a_file_is_refused_in_one_line(tmp_path, cli_error, name):
    path = tmp_path / "thesis.tex"
    path.write_text("years of work")
    line = cli_error(command(name, str(path), tmp_path))
    assert "is a file" in line or "not a folder" in line
    assert path.read_text() == "years of work"


@pytest.mark.parametrize("out", ["", ".", ".."])
@pytest.mark.parametrize("name", ["simulate", "train", "calibrate", "diagnose --force",
                                  "run --force"])
def test_empty_current_and_parent_names_are_refused(tmp_path, cli_error, monkeypatch, name,
                                                      out):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    line = cli_error(command(name, out, tmp_path))
    assert "empty" in line if out == "" else "names no folder" in line
    assert not (tmp_path / "work" / MARKER).exists() and not (tmp_path / MARKER).exists()
    assert list((tmp_path / "work").iterdir()) == []


def test_a_resumed_training_keeps_the_users_hidden_files(tmp_path):
    out = tmp_path / "train"
    assert main(command("train", str(out), tmp_path)) == 0
    token = json.loads((out / MARKER).read_text())["token"]
    (out / ".best.pt.bak").write_text("my backup")
    (out / ".checkpoint.pt.x1").write_text("mine too")
    leftover = out / f".checkpoint.pt.tmp-{token}-deadbeef"  # what a killed save leaves
    leftover.write_text("half")
    assert main(["train", "--resume", "--steps", "150", "--quiet", "--out", str(out)]) == 0
    assert (out / ".best.pt.bak").read_text() == "my backup"
    assert (out / ".checkpoint.pt.x1").read_text() == "mine too"
    assert not leftover.exists()
    assert not (tmp_path / f".train{LOCK_SUFFIX}").exists()


def test_resume_continues_only_a_training_folder(tmp_path, cli_error):
    run = tmp_path / "run"
    assert main([*SIM, "--out", str(run)]) == 0
    before = snapshot(run)
    assert "simulation" in cli_error(["train", "--resume", "--out", str(run), "--quiet"])
    assert snapshot(run) == before
    assert "does not exist" in cli_error(["train", "--resume", "--out",
                                          str(tmp_path / "nothing"), "--quiet"])
    assert not (tmp_path / "nothing").exists()


# ------------------------------------------------------------------ temporary folders


def test_look_alike_temporary_folders_are_never_deleted(tmp_path, monkeypatch):
    out = tmp_path / "run"
    look_alikes = [tmp_path / ".run.tmp-mine", tmp_path / ".run.old-mine",
                   tmp_path / ".run.tmp-marked"]
    for folder in look_alikes:
        folder.mkdir()
        (folder / "data.txt").write_text("mine")
    # even a copied marker does not make a folder a leftover: its token was never recorded
    (look_alikes[2] / MARKER).write_text(json.dumps({"written_by": "abm-hetero",
                                                     "kind": "simulation", "token": "x"}))
    assert main([*SIM, "--out", str(out)]) == 0
    assert main([*SIM, "--out", str(out), "--force", "--seed", "2"]) == 0
    monkeypatch.setattr(output, "_exchange", lambda a, b: False)  # no atomic swap
    assert main([*SIM, "--out", str(out), "--force", "--seed", "3"]) == 0
    assert json.loads((out / "settings.json").read_text())["seed"] == 3
    for folder in look_alikes:
        assert (folder / "data.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["run", *(f.name for f in look_alikes)])


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (the cleanup is switched off)."""


def test_leftovers_of_a_killed_run_are_recognised_by_their_token(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert main([*SIM, "--out", str(out)]) == 0

    def killed(tmp):
        (tmp / "market.csv").write_text("half")
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(output, "_discard", lambda path, token: None)
        with pytest.raises(Killed):
            output.write_atomically(out, killed, kind="simulation", overwrite=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and f".run{LOCK_SUFFIX}" in names  # the record of the leftover
    assert main([*SIM, "--out", str(out), "--force", "--seed", "4"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_without_an_atomic_swap_a_kill_between_the_renames_is_recovered(tmp_path, monkeypatch):
    out = tmp_path / "run"
    output.write_atomically(out, lambda f: (f / "data.txt").write_text("old"))
    move = output._move_to_free

    def killed_before_moving_in(a, b):
        if b == out:
            raise Killed
        return move(a, b)

    with monkeypatch.context() as m:
        m.setattr(output, "_exchange", lambda a, b: False)
        m.setattr(output, "_move_to_free", killed_before_moving_in)
        m.setattr(output, "_discard", lambda path, token: None)
        with pytest.raises(Killed):
            output.write_atomically(out, lambda f: (f / "data.txt").write_text("new"),
                                    overwrite=True)
    assert not out.exists()  # the earlier run is aside, the new one not yet in
    output.check_output_dir(out, overwrite=True)  # the next command puts the earlier run back
    assert (out / "data.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ------------------------------------------------------------------ the final swap


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_that_appears_during_the_run_is_left_alone(tmp_path, cli_error, monkeypatch,
                                                            force):
    out = tmp_path / "run"
    save = output.save_run

    def save_while_the_user_makes_a_folder(model, folder):
        save(model, folder)
        out.mkdir()
        (out / "notes.txt").write_text("mine")

    monkeypatch.setattr(simulate_command, "save_run", save_while_the_user_makes_a_folder)
    line = cli_error([*SIM, "--out", str(out), *(["--force"] if force else [])])
    assert "left as it is" in line and "finished output is in" in line
    assert snapshot(out) == {"notes.txt": b"mine"}
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("run.kept-")]
    assert len(kept) == 1 and (kept[0] / "market.csv").is_file()
    assert str(kept[0]) in line
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run", kept[0].name])


def test_an_earlier_run_replaced_by_a_user_folder_during_the_run_is_left_alone(
        tmp_path, cli_error, monkeypatch):
    out = tmp_path / "run"
    assert main([*SIM, "--out", str(out)]) == 0
    save = output.save_run

    def save_while_the_user_swaps_the_folder(model, folder):
        save(model, folder)
        (out / MARKER).unlink()  # now a folder of the user's
        (out / "notes.txt").write_text("mine")

    monkeypatch.setattr(simulate_command, "save_run", save_while_the_user_swaps_the_folder)
    assert "no .abm-hetero marker" in cli_error([*SIM, "--out", str(out), "--force"])
    assert (out / "notes.txt").read_text() == "mine" and (out / "market.csv").is_file()


def test_an_empty_folder_that_appears_during_the_run_is_filled(tmp_path, monkeypatch):
    out = tmp_path / "run"
    save = output.save_run
    monkeypatch.setattr(simulate_command, "save_run",
                        lambda model, f: (save(model, f), out.mkdir()))
    assert main([*SIM, "--out", str(out)]) == 0
    assert (out / "market.csv").is_file() and (out / MARKER).is_file()


# ------------------------------------------------------------------ the lock


def hold_lock(out: Path) -> int:
    """Lock ``out`` as another command would (an open file of its own)."""
    fd = os.open(out.parent / f".{out.name}{LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


@pytest.mark.parametrize("name", ["simulate", "simulate --force", "train", "calibrate",
                                  "diagnose --force"])
def test_a_second_writer_stops_at_once(tmp_path, cli_error, name):
    out = tmp_path / "run"
    fd = hold_lock(out)
    try:
        line = cli_error(command(name, str(out), tmp_path))
    finally:
        os.close(fd)
    assert "is in use" in line
    assert not out.exists()


def test_a_second_training_into_a_running_one_stops_at_once(tmp_path, cli_error):
    out = tmp_path / "train"
    assert main(command("train", str(out), tmp_path)) == 0
    before = snapshot(out)
    fd = hold_lock(out)
    try:
        assert "is in use" in cli_error(["train", "--resume", "--out", str(out), "--quiet"])
    finally:
        os.close(fd)
    assert snapshot(out) == before


def test_a_lock_held_by_another_process(tmp_path, cli_error):
    out = tmp_path / "run"
    lock = out.parent / f".{out.name}{LOCK_SUFFIX}"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
         "os.write(fd, b'{\"abm_hetero\": \"lock\"}\\n')\n"  # as the package makes it
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert "is in use" in cli_error([*SIM, "--out", str(out)])
    finally:
        holder.kill()
        holder.wait()
    assert main([*SIM, "--out", str(out)]) == 0  # a dead holder's lock is free at once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_file_in_the_place_of_the_lock_is_not_taken_for_it(tmp_path, cli_error):
    lock = tmp_path / f".run{LOCK_SUFFIX}"
    lock.write_text("my notes")
    assert "not abm-hetero's lock file" in cli_error([*SIM, "--out", str(tmp_path / "run")])
    assert lock.read_text() == "my notes"


# ------------------------------------------------------------------ odd paths


@pytest.mark.parametrize("name", ["simulate --force", "train", "train --resume", "calibrate"])
@pytest.mark.parametrize("kind", ["to_a_user_folder", "to_a_run", "dangling", "loop"])
def test_an_output_that_is_a_symbolic_link_is_refused(tmp_path, cli_error, name, kind):
    link = tmp_path / "link"
    if kind == "to_a_user_folder":
        target = user_folder(tmp_path)
    elif kind == "to_a_run":
        target = tmp_path / "run"
        output.write_atomically(target, lambda f: (f / "data.txt").write_text("run"))
    elif kind == "dangling":
        target = tmp_path / "nowhere"
    else:
        target = link
    link.symlink_to(target)
    before = snapshot(target) if target.is_dir() else None
    line = cli_error(command(name, str(link), tmp_path))
    assert "symbolic link" in line
    assert link.is_symlink() and (snapshot(target) if target.is_dir() else None) == before
    assert not (tmp_path / "nowhere").exists()


def test_a_name_too_long_and_a_loop_above_are_one_line(tmp_path, cli_error):
    assert "too long" in cli_error([*SIM, "--out", str(tmp_path / ("x" * 300))])
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert "symbolic links" in cli_error([*SIM, "--out", str(tmp_path / "loop" / "run")])


# ------------------------------------------------------------------ permissions, limits


def test_folders_and_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        out = tmp_path / "a" / "run"
        assert main([*SIM, "--out", str(out)]) == 0
        with output.Workspace(tmp_path / "cal", "calibration"):
            pass
    finally:
        os.umask(old)
    for folder in (tmp_path / "a", out, tmp_path / "cal"):
        assert folder.stat().st_mode & 0o777 == 0o750, folder
    assert (out / "market.csv").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EMFILE])
def test_a_full_disk_or_a_limit_is_one_line_and_changes_nothing(tmp_path, cli_error,
                                                                monkeypatch, code):
    out = tmp_path / "run"
    assert main([*SIM, "--out", str(out)]) == 0
    before = snapshot(out)

    def fail(model, folder):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(simulate_command, "save_run", fail)
    line = cli_error([*SIM, "--out", str(out), "--force"])
    assert os.strerror(code) in line
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_real_file_size_and_open_file_limits_are_one_line(tmp_path, cli_error):
    # Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE fails with EFBIG
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        line = cli_error(["simulate", "--ticks", "300", "--traders", "20", "--quiet",
                          "--out", str(tmp_path / "big")])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert "too large" in line and not (tmp_path / "big").exists()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    used = {int(fd) for fd in os.listdir("/proc/self/fd")}
    lowest_free = min(n for n in range(len(used) + 2) if n not in used)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))  # no file can be opened
    try:
        line = cli_error([*SIM, "--out", str(tmp_path / "few")])
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "Too many open files" in line and not (tmp_path / "few").exists()


# ------------------------------------------------------------------ bench --json


def test_bench_json_replaces_only_an_earlier_result(tmp_path, cli_error, monkeypatch):
    import abm_hetero.commands.bench

    monkeypatch.setattr(abm_hetero.commands.bench, "run_all",
                        lambda **options: {"sim_decisions_per_s_batched": 1.0})
    path = tmp_path / "bench.json"
    assert main(["bench", "--json", str(path)]) == 0
    assert main(["bench", "--json", str(path)]) == 0  # an earlier result is replaced
    assert json.loads(path.read_text()) == {"sim_decisions_per_s_batched": 1.0}
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": 1}')
    assert "not written by abm-hetero" in cli_error(["bench", "--json", str(mine)])
    assert mine.read_text() == '{"mine": 1}'
    link = tmp_path / "link.json"
    link.symlink_to(mine)
    assert "symbolic link" in cli_error(["bench", "--json", str(link)])
    assert "empty" in cli_error(["bench", "--json", ""])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "link.json",
                                                          "notes.json"]


# ------------------------------------------------------------------ --force and foreign content


def test_force_replaces_only_an_output_of_its_own_kind(tmp_path, cli_error):
    out = tmp_path / "t"
    assert main(command("train", str(out), tmp_path)) == 0
    before = snapshot(out)
    error = cli_error([*SIM, "--out", str(out), "--force"])
    assert "holds a training output" in error and "nothing was deleted" in error
    assert snapshot(out) == before


def test_force_never_deletes_files_a_user_put_into_an_earlier_run(tmp_path, cli_error):
    out = tmp_path / "run"
    assert main([*SIM, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    (out / "analysis").mkdir()
    before = snapshot(out)
    assert "holds files abm-hetero did not write there (analysis, notes.txt)" in cli_error(
        [*SIM, "--out", str(out), "--force"])
    assert snapshot(out) == before


def test_force_refuses_an_earlier_run_without_a_list_of_its_files(tmp_path, cli_error):
    out = tmp_path / "run"
    assert main([*SIM, "--out", str(out)]) == 0
    (out / MARKER).write_text(json.dumps({"written_by": "abm-hetero", "kind": "simulation"}))
    assert "recorded no list of its files" in cli_error([*SIM, "--out", str(out), "--force"])
    assert (out / "market.csv").is_file()


# ------------------------------------------------------------------ planted lock files


def test_a_planted_lock_record_never_names_anything_outside_the_packages_own(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("precious")
    (victim / "empty").mkdir()
    decoy = tmp_path / f".q.tmp-{'0' * 16}"
    decoy.mkdir()
    records = [{"abm_hetero": "lock"},
               {"role": "tmp", "name": "victim/precious.txt", "token": ""},
               {"role": "tmp", "name": "../victim/empty", "token": "0" * 16},
               {"role": "tmp", "name": decoy.name, "token": ""},
               {"role": "old", "name": "victim", "token": "0" * 16}]
    (tmp_path / f".q{LOCK_SUFFIX}").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main([*SIM, "--out", str(tmp_path / "q")]) == 0
    assert (victim / "precious.txt").read_text() == "precious" and (victim / "empty").is_dir()


@pytest.mark.parametrize("kind", ["empty", "hard_link"])
def test_a_user_file_at_the_lock_name_is_never_taken_over(tmp_path, cli_error, kind):
    lock = tmp_path / f".s{LOCK_SUFFIX}"
    user = tmp_path / "user.txt"
    user.write_text("" if kind == "empty" else "mine")
    if kind == "empty":
        user.rename(lock)
    else:
        os.link(user, lock)
    error = cli_error([*SIM, "--out", str(tmp_path / "s")])
    assert "lock file" in error and "nothing was changed" in error
    assert lock.read_text() == ("" if kind == "empty" else "mine")
    assert not (tmp_path / "s").exists()


def test_a_mount_point_is_refused_as_an_output(tmp_path, cli_error, monkeypatch):
    out = tmp_path / "mnt"
    out.mkdir()
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == out)
    assert "is a mount point" in cli_error([*SIM, "--out", str(out)])


def test_a_workspace_replaced_during_a_run_is_not_written_into(tmp_path):
    out = tmp_path / "w"
    with output.Workspace(out, "training") as folder:
        folder.verify()
        out.rename(tmp_path / "moved")
        out.mkdir()
        (out / "mine.txt").write_text("mine")
        with pytest.raises(output.AbmHeteroError, match="was moved or replaced"):
            folder.verify()
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_a_training_folder_replaced_during_the_run_is_not_written_into(tmp_path):
    from abm_hetero.training import Trainer, TrainingSettings

    out = tmp_path / "t"
    trainer = Trainer(TrainingSettings.from_dict(
        {"total_steps": 20, "traders": 4, "episode_ticks": 20, "warmup_ticks": 2,
         "episodes_per_rollout": 1, "hidden": [4], "eval_interval": 1000,
         "eval_episodes": 1}), out, progress=False)
    out.rename(tmp_path / "moved")
    out.mkdir()
    (out / "metrics.csv").write_text("my metrics")
    with pytest.raises(output.AbmHeteroError, match="was moved or replaced"):
        trainer.train()
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv"]
    assert (out / "metrics.csv").read_text() == "my metrics"


def test_force_never_replaces_a_file_a_user_edited_in_an_earlier_run(tmp_path, cli_error):
    out = tmp_path / "run"
    assert main([*SIM, "--out", str(out)]) == 0
    with (out / "market.csv").open("a") as fh:
        fh.write("my edits\n")
    before = snapshot(out)
    assert "its market.csv changed since abm-hetero wrote it" in cli_error(
        [*SIM, "--out", str(out), "--force"])
    assert snapshot(out) == before


def test_a_lock_record_not_signed_by_the_package_is_never_acted_on(tmp_path):
    token = "0123456789abcdef"
    mine = tmp_path / f".j.tmp-{token}"
    mine.write_text("mine")
    records = [{"abm_hetero": "lock"}, {"role": "tmp", "name": mine.name, "token": token}]
    (tmp_path / f".j{LOCK_SUFFIX}").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main([*SIM, "--out", str(tmp_path / "j")]) == 0
    assert mine.read_text() == "mine"


def test_a_link_inside_a_training_folder_is_refused(tmp_path, cli_error):
    out = tmp_path / "t"
    assert main(command("train", str(out), tmp_path)) == 0
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("years of work")
    (out / "training_settings.json").unlink()
    (out / "training_settings.json").symlink_to(thesis)
    error = cli_error(["train", "--resume", "--out", str(out), "--quiet", "--steps", "40"])
    assert "holds a symbolic link" in error and "training_settings.json" in error
    assert thesis.read_text() == "years of work"


def test_a_cache_that_may_no_longer_be_written_saves_nothing(tmp_path):
    from abm_hetero.training.engine import run_tasks

    def moved() -> None:
        raise output.AbmHeteroError("moved")

    with pytest.raises(output.AbmHeteroError, match="moved"):
        run_tasks(len, {"a": ("xyz",)}, cache=tmp_path / "tasks", cache_guard=moved)
    assert list((tmp_path / "tasks").iterdir()) == []


def test_a_training_that_fails_to_start_gives_its_folder_back(tmp_path):
    from abm_hetero.learning.checkpoint import CheckpointError
    from abm_hetero.training import Trainer, TrainingSettings

    out = tmp_path / "t"
    with output.Workspace(out, "training"):
        pass  # a training folder killed before its first checkpoint
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Trainer(TrainingSettings(), out, resume=True, progress=False)
    assert not (tmp_path / f".t{LOCK_SUFFIX}").exists()  # the lock was released
