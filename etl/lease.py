"""One job that writes the lakehouse at a time: a lease recorded in `ops/lease`, taken by compare-and-swap.

`ops/lease` is an append-only log of lease events (taken, renewed, released); each event is one
Delta commit that carries the lease as its commit metadata and the next number of a sequence as
a Delta idempotent-write transaction (`txnAppId` iiap-lease, `txnVersion` n + 1). A taker reads
the last event (n, the holder: the newest commit file's metadata), decides, and appends event
n + 1: if another taker appended n + 1 first, Delta skips the write; if both commit at once,
Delta's optimistic concurrency fails one with ConcurrentTransactionException. The taker then
reads the last event back: the lease is its own only if that event is. One Delta commit and two
reads of the log's newest commit file (a listing and a small read, not a reconstruction of the
table's state).

That holds wherever Delta's commits are mutually exclusive: on a local or HDFS file system
(atomic rename), and on S3 only with a LogStore that serialises commits across drivers
(delta-storage-s3-dynamodb's S3DynamoDBLogStore); with the default single-driver S3 LogStore two
drivers can both write the same commit and no lock built on Delta is sound (README, "One writer").

A holder renews its lease every third of its term from a background thread; a lease not renewed
for a whole term, or held by a process that no longer exists on this host, belongs to a dead run
and may be taken over.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from delta.exceptions import DeltaConcurrentModificationException
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl import lake
from etl.spark import local_frame

log = logging.getLogger(__name__)

APP_ID = "iiap-lease"  # the Delta idempotent-write id whose version is the lease's sequence
DDL = (
    "seq bigint NOT NULL, event string NOT NULL, lease_id string NOT NULL, job string NOT NULL, batch_id string, "
    "host string NOT NULL, pid int NOT NULL, started_at timestamp NOT NULL, renewed_at timestamp NOT NULL, "
    "expires_at timestamp NOT NULL"
)
_FIELDS = ("lease_id", "job", "batch_id", "host", "pid", "started_at", "renewed_at", "expires_at")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class Holder:
    lease_id: str
    job: str
    batch_id: str | None
    host: str
    pid: int
    started_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def gone(self, now: datetime, host: str) -> str | None:
        """Why the holder is a dead run, or None while it may be running."""
        if self.expires_at <= now:
            return f"its lease expired at {self.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        if self.host == host and not _alive(self.pid):
            return f"process {self.pid} no longer exists on {host}"
        return None

    def describe(self) -> str:
        work = f" (batch {self.batch_id})" if self.batch_id else ""
        return (
            f"iiap {self.job}{work} on host {self.host}, process {self.pid}, started "
            f"{self.started_at:%Y-%m-%d %H:%M:%S} UTC, lease until {self.expires_at:%H:%M:%S} UTC"
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class LakehouseBusy(RuntimeError):
    """Another job holds the lakehouse's lease."""


class LeaseLost(RuntimeError):
    """The lease was taken over while this job ran: it must not commit."""


TAKEN, TAKEN_OVER, RENEWED, RELEASED = "taken", "taken_over", "renewed", "released"
RECOVERERS = ("ingest", "run")  # the jobs whose --recover rolls a dead ingest's batch back


class Lease:
    """This process's claim on the lakehouse, for one job (and, for an ingest, its batch id)."""

    def __init__(self, spark: SparkSession, path: str, job: str, minutes: float, batch_id: str | None = None):
        self.spark, self.path, self.job, self.term = spark, path, job, timedelta(minutes=minutes)
        self.host, self.pid = socket.gethostname(), os.getpid()
        now = _now()
        self.mine = Holder(secrets.token_hex(8), job, batch_id, self.host, self.pid, now, now, now + self.term)
        self._guard = threading.Lock()  # the heartbeat and the job never append an event at once
        self.lost: str | None = None
        self.seq = 0

    # --- the log ----------------------------------------------------------------------------

    def last(self) -> tuple[int, Holder | None]:
        """The sequence number of the last event and the lease it leaves (None: released, or never taken)."""
        meta = lake.last_commit_metadata(self.spark, self.path)
        if meta is None:
            return 0, None
        event = json.loads(meta)
        if event["event"] == RELEASED:
            return event["seq"], None
        when = {k: datetime.fromisoformat(event[k]) for k in ("started_at", "renewed_at", "expires_at")}
        return event["seq"], Holder(**{k: event[k] for k in _FIELDS} | when)

    def _append(self, seq: int, event: str, holder: Holder) -> None:
        """Event `seq` of the log, unless another event `seq` was written first (then Delta skips or refuses it)."""
        row = {"seq": seq, "event": event} | {k: getattr(holder, k) for k in _FIELDS}
        meta = json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})
        frame = local_frame(self.spark, [tuple(row.values())], T.StructType.fromDDL(DDL))
        writer = frame.write.format("delta").mode("append").option("txnAppId", APP_ID).option("txnVersion", seq)
        try:
            writer.option("userMetadata", meta).save(self.path)
        except Exception as exc:
            if not _lost_race(exc):
                raise

    # --- the job's side ----------------------------------------------------------------------

    def acquire(self, recover: bool = False) -> Holder | None:
        """Take the lease, or raise LakehouseBusy naming its holder. A dead run's lease is taken over (and
        returned); a dead ingest's only by `iiap ingest --recover`, which rolls its batch back."""
        with self._guard:
            seq, current = self.last()
            if current is not None:
                why = current.gone(_now(), self.host)
                if why is None:
                    raise LakehouseBusy(f"another job is writing this lakehouse: {current.describe()}; wait for it")
                if current.job == "ingest" and not (self.job in RECOVERERS and recover):
                    raise LakehouseBusy(
                        f"the lakehouse's lease is held by an ingest that is gone ({why}): {current.describe()}; "
                        "rerun iiap ingest (or iiap run) with --recover to roll its batch back and take the lease over"
                    )
            self._append(seq + 1, TAKEN if current is None else TAKEN_OVER, self.mine)
            self.seq, now = self.last()
            if now is None or now.lease_id != self.mine.lease_id:
                other = now.describe() if now else "a run that released it at once"
                raise LakehouseBusy(f"another job took the lakehouse's lease first: {other}; wait for it")
            return current

    def renew(self) -> None:
        """Extend the lease by a term; if it is no longer this run's, remember by whom (`check` raises)."""
        with self._guard:
            now = _now()
            new = replace(self.mine, renewed_at=now, expires_at=now + self.term)
            self._append(self.seq + 1, RENEWED, new)
            self.seq, current = self.last()
            if current is None or current.lease_id != self.mine.lease_id:
                self.lost = current.describe() if current else "nobody (it was released)"
                return
            self.mine = new

    def check(self) -> None:
        """Raise if the lease was taken over: a job calls this before it commits."""
        if self.lost is not None:
            raise LeaseLost(f"this run's lease on the lakehouse was taken over by {self.lost}; nothing was committed")

    def release(self) -> None:
        with self._guard:
            if self.lost is None:
                self._append(self.seq + 1, RELEASED, self.mine)


_RACES = ("Concurrent", "ProtocolChangedException", "MetadataChangedException")  # the last two: a first commit


def _lost_race(exc: Exception) -> bool:
    """Delta's refusal of a commit another transaction beat (PySpark 4.1 does not always convert it)."""
    if isinstance(exc, DeltaConcurrentModificationException):
        return True
    return any(f"io.delta.exceptions.{name}" in str(exc) for name in _RACES)


_THREAD = threading.local()


def _held_here() -> dict[str, Lease]:
    """Lease path -> the lease this thread holds on it."""
    if not hasattr(_THREAD, "held"):
        _THREAD.held = {}
    return _THREAD.held


@contextmanager
def held(
    spark: SparkSession,
    path: str,
    job: str,
    minutes: float,
    recover: bool = False,
    progress=lambda msg: None,
    batch_id: str | None = None,
) -> Iterator[Lease]:
    """The lease for the duration of a job, renewed every third of its term, released however the job ends
    (a killed job's lease stays until it expires or its process is seen gone).

    Re-entrant within a thread: a job run inside another that holds the lakehouse (the stages of `iiap run`) works
    under the outer lease, so no other job writes between the stages. Another thread is another taker."""
    held_here = _held_here()
    outer = held_here.get(path)
    if outer is not None:
        yield outer
        return
    lease = Lease(spark, path, job, minutes, batch_id)
    if dead := lease.acquire(recover):
        progress(f"took over the lease of a run that is gone: {dead.describe()}")
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease.term.total_seconds() / 3):
            try:
                lease.renew()
            except Exception as exc:  # noqa: BLE001 - a failed renewal is retried; the term has slack for it
                log.warning("could not renew the lakehouse lease (%s); trying again", exc)

    heart = threading.Thread(target=beat, name=f"iiap-lease-{job}", daemon=True)
    heart.start()
    held_here[path] = lease
    try:
        yield lease
    finally:
        del held_here[path]
        stop.set()
        heart.join()
        lease.release()
