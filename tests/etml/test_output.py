"""The load step's folder: claimed by one job, one whole folder per date, even under kill -9.

The kill tests run a real subprocess that writes a day and SIGKILLs itself at one step
of the swap (in the middle of a file, after the commit, after each rename, in the middle
of removing the old folder); opening the folder again must leave exactly one complete
date folder, the old one or the new one, and a rerun must leave the new one alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

import mlfactory
from mlfactory.errors import BadInputError
from mlfactory.etml.output import MARKER, days, open_output, read_day, recover, write_day

DAY = date(2026, 11, 28)
OLD = {"rows.parquet": b"old rows " * 1000, "summary.json": b'{"version": "old"}'}
NEW = {
    "rows.parquet": b"new rows " * 5000,
    "summary.json": b'{"version": "new"}',
    "report.html": b"<p>new</p>",
}


def hidden(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".date="))


def test_the_folder_is_claimed_by_one_job(tmp_path: Path) -> None:
    root = tmp_path / "out"
    assert open_output(root, job="taxi", spec_path="job.yaml") == root
    marker = json.loads((root / MARKER).read_text())
    assert marker["job"] == "taxi" and marker["spec"] == str(tmp_path / "job.yaml")
    write_day(root, DAY, OLD)
    open_output(root, job="taxi", spec_path=tmp_path / "job.yaml")  # the same job again
    with pytest.raises(BadInputError) as caught:
        open_output(root, job="taxi", spec_path="other/job.yaml")
    message = str(caught.value)
    assert f"output folder '{root}' holds the output of job 'taxi' (spec {tmp_path}/job.yaml)" in (
        message
    )
    assert f"not of job 'taxi' (spec {tmp_path}/other/job.yaml)" in message
    with pytest.raises(BadInputError, match="holds the output of job 'taxi'"):
        open_output(root, job="rides", spec_path="job.yaml")
    assert read_day(root, DAY) == OLD  # nothing was touched


def test_a_folder_without_a_marker_or_with_strange_day_names_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    (foreign / "date=2026-11-28").mkdir(parents=True)
    (foreign / "date=2026-11-28" / "part.parquet").write_bytes(b"theirs")
    with pytest.raises(BadInputError, match=r"is not empty \(date=2026-11-28\) and has no _job"):
        open_output(foreign, job="taxi", spec_path="job.yaml")
    assert not (foreign / MARKER).exists()

    root = open_output(tmp_path / "out", job="taxi", spec_path="job.yaml")
    for name in ("date=2026-11-28-backup", "date=2026-13-01"):
        (root / name).mkdir()
        with pytest.raises(BadInputError, match=f"holds {name}: named like a day's folder"):
            open_output(root, job="taxi", spec_path="job.yaml")
        assert (root / name).is_dir()  # refused, not deleted
        (root / name).rmdir()
    (root / MARKER).write_text("{not json")
    with pytest.raises(BadInputError, match=r"has an unreadable _job\.json"):
        open_output(root, job="taxi", spec_path="job.yaml")
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(BadInputError, match="is a file, not a folder"):
        open_output(file, job="taxi", spec_path="job.yaml")


def test_a_rerun_replaces_the_day_whole_and_alone(tmp_path: Path) -> None:
    root = open_output(tmp_path / "out", job="taxi", spec_path="job.yaml")
    write_day(root, DAY, OLD)
    write_day(root, date(2026, 11, 27), {"rows.jsonl": lambda handle: handle.write(b"{}\n")})
    assert read_day(root, date(2026, 11, 27)) == {"rows.jsonl": b"{}\n"}
    write_day(root, DAY, NEW)
    assert read_day(root, DAY) == NEW  # summary.json replaced, report.html added
    write_day(root, DAY, {"summary.json": b"{}"})
    assert read_day(root, DAY) == {"summary.json": b"{}"}  # rows.parquet gone with the old day
    assert days(root) == [date(2026, 11, 27), DAY] and hidden(root) == []
    assert read_day(root, date(2026, 11, 29)) is None
    with pytest.raises(ValueError, match="plain, visible file name"):
        write_day(root, DAY, {"../escape": b""})


def test_a_writer_that_fails_leaves_the_old_day(tmp_path: Path) -> None:
    root = open_output(tmp_path / "out", job="taxi", spec_path="job.yaml")
    write_day(root, DAY, OLD)

    def broken(handle: object) -> None:
        raise RuntimeError("the report could not be drawn")

    with pytest.raises(RuntimeError):
        write_day(root, DAY, {"rows.parquet": b"new", "report.html": broken})
    assert read_day(root, DAY) == OLD
    write_day(root, DAY, NEW)  # the next write cleans what the failed one left
    assert read_day(root, DAY) == NEW and hidden(root) == []


# -- kill -9 at every step of the swap --------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, shutil, signal, sys
    from datetime import date
    from pathlib import Path
    from mlfactory.etml import output

    root, point = Path(sys.argv[1]), sys.argv[2]
    NEW = {NEW!r}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    replace, unlink = os.replace, os.unlink

    def replace_then_maybe_die(src, dst):
        replace(src, dst)
        src, dst = Path(src).name, Path(dst).name
        if (point, src.endswith(".partial"), dst.endswith(".old"), src.endswith(".new")) in {{
            ("committed", True, False, False),
            ("aside", False, True, False),
            ("swapped", False, False, True),
        }}:
            die()

    def unlink_then_die(path, *args, **kwargs):
        unlink(path, *args, **kwargs)
        if point == "dropping":
            die()

    def torn(handle):
        handle.write(NEW["rows.parquet"][:1000])
        handle.flush()
        die()

    os.replace, os.unlink = replace_then_maybe_die, unlink_then_die
    files = dict(NEW)
    if point == "writing":
        files["rows.parquet"] = torn
    output.write_day(root, date(2026, 11, 28), files)
    print("not killed")
    """
)

# after the kill and a recovery, the day is the old one until the commit, the new one after
POINTS = [("writing", "old"), ("committed", "new"), ("aside", "new"), ("swapped", "new")]


def _write_and_die(root: Path, point: str) -> None:
    src = str(Path(mlfactory.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    script = CHILD.format(NEW=NEW)
    done = subprocess.run(
        [sys.executable, "-c", script, str(root), point],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, (point, done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize(("point", "survivor"), [*POINTS, ("dropping", "new")])
def test_kill_9_during_a_rerun_leaves_one_whole_day(
    tmp_path: Path, point: str, survivor: str
) -> None:
    root = open_output(tmp_path / "out", job="taxi", spec_path="job.yaml")
    write_day(root, DAY, OLD)
    _write_and_die(root, point)
    assert hidden(root), "the kill left nothing to recover: it hit no step of the swap"
    open_output(root, job="taxi", spec_path="job.yaml")  # start-up recovery
    assert read_day(root, DAY) == (OLD if survivor == "old" else NEW)
    assert hidden(root) == [] and days(root) == [DAY]
    write_day(root, DAY, NEW)  # the rerun
    assert read_day(root, DAY) == NEW and hidden(root) == [] and days(root) == [DAY]


@pytest.mark.parametrize(("point", "survivor"), [POINTS[0], POINTS[1], POINTS[3]])
def test_kill_9_during_a_first_write_leaves_the_day_whole_or_absent(
    tmp_path: Path, point: str, survivor: str
) -> None:
    root = open_output(tmp_path / "out", job="taxi", spec_path="job.yaml")
    _write_and_die(root, point)
    recover(root)
    assert read_day(root, DAY) == (None if survivor == "old" else NEW)
    assert hidden(root) == []
    write_day(root, DAY, NEW)
    assert read_day(root, DAY) == NEW and days(root) == [DAY] and hidden(root) == []


def test_recovery_restores_an_old_day_left_alone(tmp_path: Path) -> None:
    root = open_output(tmp_path / "out", job="taxi", spec_path="job.yaml")
    write_day(root, DAY, OLD)
    (root / "date=2026-11-28").rename(root / ".date=2026-11-28.old")  # no new beside it
    assert recover(root) == ["restored date=2026-11-28 from .date=2026-11-28.old"]
    assert read_day(root, DAY) == OLD and hidden(root) == []
