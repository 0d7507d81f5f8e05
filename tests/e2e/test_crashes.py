"""Crashes and overlapping runs: an ingest stopped anywhere, then recovered, equals one that never stopped; a second
ingest while one runs is refused and changes nothing.

The landing is small (two platforms, a jsonl.gz one and a CSV one: rosters and the first login day), so that each
trial is one short batch. Failures are injected at the k-th table write of the batch (every write, in the order
the batch makes them, is a point where a crash can fall), and twice the whole process group of a real
`iiap ingest` is killed with SIGKILL while it writes.
"""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from etl import lake
from etl.catalog import Tables
from etl.config import PROJECT_ROOT
from etl.lease import LakehouseBusy
from jobs import ingest
from tests.helpers import COLD_JVM_ENV, Crash, crash_before_write, ingest_differences, settings_for

PLATFORMS = ("P01", "P02")
BEFORE_ANY_DELIVERY = date(2020, 5, 30)  # rosters are delivered on 2020-05-31
SEED = 20201203


def _cut(generated_landing: str, out: Path) -> Path:
    src = Path(generated_landing)
    for pid in PLATFORMS:
        shutil.copytree(src / pid / "roster", out / pid / "roster")
        first = sorted(p.name for p in (src / pid / "logins").iterdir())[0]
        shutil.copytree(src / pid / "logins" / first, out / pid / "logins" / first)
    return out


@pytest.fixture(scope="module")
def landing(generated, tmp_path_factory) -> Path:
    return _cut(generated.landing, tmp_path_factory.mktemp("crash_landing"))


@pytest.fixture(scope="module")
def reference(spark, settings, landing, tmp_path_factory):
    """The uninterrupted batch, with the number of table writes it makes."""
    s = settings_for(settings, tmp_path_factory.mktemp("crash_ref"), str(landing))
    writes = []
    real = Tables.write
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            Tables,
            "write",
            lambda self, frame, table_id, note=None: (writes.append(table_id), real(self, frame, table_id, note)),
        )
        result = ingest.run(spark, s)
    assert result.feeds["logins"].reconciled
    return Tables(s), writes


def _same_tables(spark, t: Tables, ref: Tables) -> None:
    assert ingest_differences(spark, t, ref) == []


def _statuses(spark, t: Tables) -> list[str]:
    return sorted(r.status for r in lake.read(spark, t.batches).collect())


def _points(writes: list[str]) -> list[int]:
    """Eight seeded crash points out of every write of the batch: always the first after the start mark and the
    commit mark itself."""
    inner = list(range(3, len(writes)))
    return sorted({2, len(writes), *random.Random(SEED).sample(inner, 6)})


def test_a_batch_crashed_at_any_write_is_rolled_back_whole_and_redone_equal_to_an_uninterrupted_one(
    spark, settings, landing, reference, tmp_path
):
    """At every point: the crash leaves the batch unfinished, --recover rolls each of its tables back to its state
    before the batch (none existed), and the batch log says so. The redo then starts from the same state at every
    point; it is run, and compared with the uninterrupted batch, at the first, a middle and the last point."""
    ref, writes = reference
    assert writes[0] == writes[-1] == "ops.batches"  # the start mark, then the batch's tables, then the commit mark
    points = _points(writes)
    assert len(points) == 8
    redone_at = {points[0], points[len(points) // 2], points[-1]}
    for k in points:
        s = settings_for(settings, tmp_path / f"lake_{k}", str(landing))
        t = Tables(s)
        with pytest.MonkeyPatch.context() as mp:
            crash_before_write(mp, k)
            with pytest.raises(Crash, match=rf"^crashed before write {k} \({re.escape(writes[k - 1])}\)$"):
                ingest.run(spark, s)
        assert ingest.run(spark, s, until=BEFORE_ANY_DELIVERY, recover_incomplete=True).batch_id is None, k
        assert [p for p in t.written_by_ingest() if lake.exists(spark, p)] == [], k
        assert _statuses(spark, t) == ["committed", "rolled_back", "started"], k  # the commit mark has no files
        if k in redone_at:
            assert ingest.run(spark, s).feeds["logins"].reconciled, k
            assert _statuses(spark, t) == ["committed", "committed", "rolled_back", "started", "started"], k
            _same_tables(spark, t, ref)


def test_a_crash_during_recovery_is_recovered_by_the_next(spark, settings, landing, reference, tmp_path):
    ref, writes = reference
    s = settings_for(settings, tmp_path / "lake", str(landing))
    with pytest.MonkeyPatch.context() as mp:
        crash_before_write(mp, len(writes) - 2)
        with pytest.raises(Crash):
            ingest.run(spark, s)
    with pytest.MonkeyPatch.context() as mp:
        real = lake.restore
        restored = []

        def restore_then_crash(spark_, path, to_version):
            if len(restored) == 3:
                raise Crash("crashed while rolling back")
            restored.append(path)
            return real(spark_, path, to_version)

        mp.setattr(lake, "restore", restore_then_crash)
        with pytest.raises(Crash, match="^crashed while rolling back$"):
            ingest.run(spark, s, recover_incomplete=True)
    ingest.run(spark, s, recover_incomplete=True)
    _same_tables(spark, Tables(s), ref)


def _ingest_process(lakehouse: Path, landing: Path) -> subprocess.Popen:
    """`iiap ingest` in its own process group (its Python process and its Spark JVM)."""
    cmd = [sys.executable, "-m", "jobs", "--lakehouse", str(lakehouse), "--landing", str(landing), "ingest"]
    return subprocess.Popen(
        cmd,
        cwd=PROJECT_ROOT,
        env=os.environ | COLD_JVM_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"iiap ingest ended before {path} appeared:\n{proc.stdout.read()}"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.2)


@pytest.mark.parametrize("table", ["bronze/roster", "silver/roster"])
def test_an_ingest_killed_mid_batch_recovers_to_an_uninterrupted_one(
    spark, settings, landing, reference, tmp_path, table
):
    """kill -9 of the whole job a seeded moment after it began writing `table`: --recover takes its lease over."""
    ref, _ = reference
    lakehouse = tmp_path / "lake"
    proc = _ingest_process(lakehouse, landing)
    _wait_for(lakehouse / table / "_delta_log", proc)
    time.sleep(random.Random(f"{SEED}{table}").uniform(0, 1.5))
    assert proc.poll() is None, "the ingest finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    s = settings_for(settings, lakehouse, str(landing))
    with pytest.raises(LakehouseBusy, match=r"^the lakehouse's lease is held by an ingest that is gone \(process "):
        ingest.run(spark, s)
    ingest.run(spark, s, recover_incomplete=True)
    _same_tables(spark, Tables(s), ref)


def test_a_second_ingest_while_one_runs_is_refused_and_changes_nothing(spark, settings, landing, reference, tmp_path):
    ref, _ = reference
    lakehouse = tmp_path / "lake"
    proc = _ingest_process(lakehouse, landing)
    _wait_for(lakehouse / "ops" / "lease" / "_delta_log" / "00000000000000000000.json", proc)
    s = settings_for(settings, lakehouse, str(landing))
    with pytest.raises(LakehouseBusy) as refused:
        ingest.run(spark, s)
    assert re.fullmatch(
        rf"another job is writing this lakehouse: iiap ingest \(batch \d{{8}}T\d{{6}}Z-[0-9a-f]{{8}}\) on host "
        rf"\S+, process {proc.pid}, started [0-9: -]+ UTC, lease until [0-9:]+ UTC; wait for it",
        str(refused.value),
    )
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    (running,) = lake.read(spark, Tables(s).batches).filter("status = 'committed'").select("batch_id").collect()
    assert f"(batch {running.batch_id})" in str(refused.value)
    _same_tables(spark, Tables(s), ref)
    events = lake.read(spark, Tables(s).lease).orderBy("seq").select("event", "pid").collect()
    assert [(e.event, e.pid) for e in events if e.event != "renewed"] == [("taken", proc.pid), ("released", proc.pid)]
    assert lake.read(spark, Tables(s).audit).filter(F.col("feed") == "logins").count() == len(PLATFORMS)
