"""The lakehouse lease (etl/lease.py): one holder at a time, named when it refuses, taken over only when dead."""

import re
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from etl import lake
from etl.lease import LakehouseBusy, Lease, LeaseLost, held

STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC"


def _events(spark, path) -> list[tuple]:
    rows = lake.read(spark, path).orderBy("seq").collect()
    return [(r.seq, r.event, r.job, r.batch_id) for r in rows]


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def _left_by(spark, path, job, **changes) -> Lease:
    """A lease taken as another run would have left it: dead process, or expired, or on another host."""
    lease = Lease(spark, path, job, 20, "B-dead" if job == "ingest" else None)
    lease.mine = replace(lease.mine, **changes)
    lease.acquire()
    return lease


def test_a_second_taker_is_refused_with_the_holder_named(spark, tmp_path):
    path = str(tmp_path / "lease")
    with held(spark, path, "ingest", 20, batch_id="20260101T000000Z-0a1b2c3d") as first:
        with pytest.raises(LakehouseBusy) as refused:
            Lease(spark, path, "classify", 20).acquire()
        assert re.fullmatch(
            rf"another job is writing this lakehouse: iiap ingest \(batch 20260101T000000Z-0a1b2c3d\) on host "
            rf"{re.escape(first.host)}, process {first.pid}, started {STAMP}, lease until \d\d:\d\d:\d\d UTC; wait "
            "for it",
            str(refused.value),
        )
    with held(spark, path, "classify", 20):  # released when the ingest ended
        pass
    assert _events(spark, path) == [
        (1, "taken", "ingest", "20260101T000000Z-0a1b2c3d"),
        (2, "released", "ingest", "20260101T000000Z-0a1b2c3d"),
        (3, "taken", "classify", None),
        (4, "released", "classify", None),
    ]


def test_a_lease_is_released_when_the_job_fails(spark, tmp_path):
    path = str(tmp_path / "lease")
    with pytest.raises(RuntimeError, match="^boom$"), held(spark, path, "quality", 20):
        raise RuntimeError("boom")
    assert Lease(spark, path, "quality", 20).last() == (2, None)


@pytest.mark.parametrize("log", ["new", "existing"])
def test_of_two_takers_at_once_exactly_one_wins(spark, tmp_path, log):
    path = str(tmp_path / "lease")
    if log == "existing":
        Lease(spark, path, "economy", 20).release()  # both race on event 2, not on creating the log
    start, outcome = threading.Barrier(2), {}

    def take(job: str) -> None:
        lease = Lease(spark, path, job, 20)
        start.wait()
        try:
            lease.acquire()
            outcome[job] = "holds"
        except LakehouseBusy as exc:
            outcome[job] = str(exc)

    racers = [threading.Thread(target=take, args=(job,)) for job in ("classify", "economy")]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    (winner,) = [job for job, o in outcome.items() if o == "holds"]
    (loser,) = set(outcome) - {winner}
    assert outcome[loser].startswith(f"another job took the lakehouse's lease first: iiap {winner} on host ")
    before = [("released", "economy")] if log == "existing" else []
    assert [e[1:3] for e in _events(spark, path)] == [*before, ("taken", winner)]


def test_a_dead_runs_lease_is_taken_over_and_a_dead_ingests_only_by_recover(spark, tmp_path):
    path = str(tmp_path / "lease")
    _left_by(spark, path, "classify", pid=_dead_pid())
    with held(spark, path, "index release", 20):  # a dead classify's lease: anyone may take it
        pass
    dead = _dead_pid()
    _left_by(spark, path, "ingest", pid=dead)
    for job, recover in (("classify", False), ("ingest", False), ("classify", True)):
        with pytest.raises(LakehouseBusy) as refused:
            Lease(spark, path, job, 20).acquire(recover)
        assert str(refused.value).startswith(
            f"the lakehouse's lease is held by an ingest that is gone (process {dead} no longer exists on "
        )
        assert str(refused.value).endswith(
            "rerun iiap ingest (or iiap run) with --recover to roll its batch back and take the lease over"
        )
    recovering = Lease(spark, path, "ingest", 20, "B-new")
    taken = recovering.acquire(recover=True)
    assert (taken.job, taken.pid, taken.batch_id) == ("ingest", dead, "B-dead")
    assert [e[1:] for e in _events(spark, path)][-2:] == [
        ("taken", "ingest", "B-dead"),
        ("taken_over", "ingest", "B-new"),
    ]
    recovering.release()
    _left_by(spark, path, "ingest", pid=_dead_pid())
    taken = Lease(spark, path, "run", 20).acquire(recover=True)  # iiap run --recover: its ingest stage rolls back
    assert (taken.job, taken.batch_id) == ("ingest", "B-dead")


def test_a_job_inside_one_that_holds_the_lakehouse_works_under_its_lease(spark, tmp_path):
    """The stages of iiap run: nested holds in the same thread share the outer lease; another thread is refused."""
    path = str(tmp_path / "lease")
    refused = []

    def other_thread() -> None:
        try:
            with held(spark, path, "classify", 20):
                pass
        except LakehouseBusy as exc:
            refused.append(str(exc))

    with held(spark, path, "run", 20) as outer:
        with held(spark, path, "ingest", 20, batch_id="B1") as inner:
            assert inner is outer
        with held(spark, path, "classify", 20) as inner:
            assert inner is outer
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(refused) == 1 and refused[0].startswith("another job is writing this lakehouse: iiap run on host ")
    assert _events(spark, path) == [(1, "taken", "run", None), (2, "released", "run", None)]
    with held(spark, path, "classify", 20):  # the outer lease is gone with its block
        pass
    assert _events(spark, path)[-2:] == [(3, "taken", "classify", None), (4, "released", "classify", None)]


def test_an_expired_lease_on_another_host_is_dead_and_a_live_one_is_not(spark, tmp_path):
    path = str(tmp_path / "lease")
    past = datetime(2020, 1, 1)
    _left_by(spark, path, "economy", host="elsewhere", pid=1, expires_at=past)
    Lease(spark, path, "classify", 20).acquire()
    path = str(tmp_path / "lease2")
    _left_by(
        spark,
        path,
        "economy",
        host="elsewhere",
        pid=1,
        expires_at=datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1),
    )
    with pytest.raises(
        LakehouseBusy, match=r"^another job is writing this lakehouse: iiap economy on host elsewhere, "
    ):
        Lease(spark, path, "classify", 20).acquire()


def test_a_run_whose_lease_was_taken_over_may_not_commit(spark, tmp_path):
    path = str(tmp_path / "lease")
    slow = Lease(spark, path, "ingest", 20, "B-slow")
    slow.acquire()
    slow.mine = replace(slow.mine, expires_at=datetime(2020, 1, 1))  # as if it had not renewed for a term
    slow._append(slow.seq + 1, "renewed", slow.mine)
    Lease(spark, path, "ingest", 20, "B-new").acquire(recover=True)
    slow.renew()
    with pytest.raises(LeaseLost, match=r"^this run's lease on the lakehouse was taken over by iiap ingest \(batch "):
        slow.check()
    slow.release()  # does not release the new holder's lease
    assert Lease(spark, path, "classify", 20).last()[1].batch_id == "B-new"
