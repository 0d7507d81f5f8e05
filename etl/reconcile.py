"""Reconciliation of one feed of a batch: rows read = inserted + updated + quarantined + duplicates, per platform.

A pure function over counts (no Spark): the counts come from the outcome split and from
the tables as written, read back, so a lost or doubled write cannot reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from etl.outcomes import DUP_EXISTING, DUP_IN_BATCH, NEW, QUARANTINE, UPDATE

SPLIT_KEYS = ("rows_read", NEW, UPDATE, QUARANTINE, DUP_IN_BATCH, DUP_EXISTING)


@dataclass
class FeedCounts:
    files: int = 0
    rows_read: int = 0
    new: int = 0
    update: int = 0
    quarantine: int = 0
    duplicate_in_batch: int = 0
    duplicate_existing: int = 0
    split_mismatch: int = 0  # platforms whose split rows differ from their bronze rows
    file_mismatch: int = 0  # platforms whose bronze rows differ from the records the file check counted
    files_quarantined: int = 0
    unattributed: int = 0  # bronze rows with no platform: read from a file the batch's file check did not list

    @property
    def duplicates(self) -> int:
        return self.duplicate_in_batch + self.duplicate_existing

    @property
    def reconciled(self) -> bool:
        return (
            self.split_mismatch == 0
            and self.file_mismatch == 0
            and self.unattributed == 0
            and self.rows_read == self.new + self.update + self.quarantine + self.duplicates
        )

    def problem(self, batch_id: str, feed: str) -> str | None:
        """Why the feed does not reconcile, as the operator reads it; None when it does."""
        if self.reconciled:
            return None
        lost = f" ({self.split_mismatch} platforms lost or multiplied rows after bronze)" if self.split_mismatch else ""
        if self.file_mismatch:
            lost += f" ({self.file_mismatch} platforms' bronze rows differ from the records in their files)"
        if self.unattributed:
            lost += f" ({self.unattributed} bronze rows came from a file the batch's file check did not list)"
        return (
            f"batch {batch_id} feed {feed}: read {self.rows_read} rows but wrote {self.new + self.update} to silver, "
            f"{self.quarantine} to quarantine and removed {self.duplicates} duplicates{lost}; "
            "the batch stays uncommitted (run ingest --recover)"
        )


@dataclass(frozen=True)
class AuditRow:
    """One row of ops/ingest_audit, in its column order."""

    batch_id: str
    feed: str
    platform_id: str
    files: int
    files_quarantined: int
    records_in_files: int | None
    rows_read: int
    inserted: int
    updated: int
    quarantined: int
    duplicates_in_batch: int
    duplicates_existing: int
    reconciled: bool
    started_at: datetime
    finished_at: datetime

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, f) for f in self.__dataclass_fields__)


@dataclass
class Reconciliation:
    counts: FeedCounts
    audit: list[AuditRow] = field(default_factory=list)


def reconcile(
    batch_id: str,
    feed: str,
    files: dict[str, int],
    landed: dict[str, int],
    split: dict[str, dict[str, int]],
    written: dict[str, int],
    parked: dict[str, int],
    started: datetime,
    finished: datetime,
    delivered: dict[str, int] | None = None,
    files_quarantined: dict[str, int] | None = None,
) -> Reconciliation:
    """Per platform: `landed` bronze rows of the batch, the outcome `split` counts, and the rows re-read from the
    written silver (`written`: inserted + updated) and quarantine (`parked`) tables.

    Rows read are the bronze rows: a row lost or multiplied between bronze and the split cannot reconcile.
    `delivered`: the records the file check counted in each platform's files (None: not counted), which bronze
    must equal, so a file that changed or lost rows between the check and Spark's read cannot reconcile either.
    """
    parked_files = files_quarantined or {}
    counts = FeedCounts(files=sum(files.values()), files_quarantined=sum(parked_files.values()))
    out = Reconciliation(counts)
    empty = dict.fromkeys(SPLIT_KEYS, 0)
    counts.unattributed = landed.get(None, 0)  # no platform to audit them under: the batch stops on them
    for pid in sorted((set(landed) | set(split) | set(files) | set(parked_files)) - {None}):
        c = split.get(pid, empty)
        read, updated, quarantined = landed.get(pid, 0), c[UPDATE], parked.get(pid, 0)
        inserted = written.get(pid, 0) - updated
        counts.rows_read += read
        counts.new += inserted
        counts.update += updated
        counts.quarantine += quarantined
        counts.duplicate_in_batch += c[DUP_IN_BATCH]
        counts.duplicate_existing += c[DUP_EXISTING]
        counts.split_mismatch += read != c["rows_read"]
        in_files = None if delivered is None else delivered.get(pid, 0)
        counts.file_mismatch += in_files is not None and in_files != read
        ok = read == c["rows_read"] == inserted + updated + quarantined + c[DUP_IN_BATCH] + c[DUP_EXISTING]
        ok = ok and in_files in (None, read)
        out.audit.append(
            AuditRow(
                batch_id,
                feed,
                pid,
                files.get(pid, 0),
                parked_files.get(pid, 0),
                in_files,
                read,
                inserted,
                updated,
                quarantined,
                c[DUP_IN_BATCH],
                c[DUP_EXISTING],
                ok,
                started,
                finished,
            )
        )
    return out
