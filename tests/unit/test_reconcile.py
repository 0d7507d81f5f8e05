"""Reconciliation is a pure function over counts: exact totals, audit rows and the operator's message."""

from datetime import datetime

from etl.reconcile import FeedCounts, reconcile

T0, T1 = datetime(2020, 7, 1, 2), datetime(2020, 7, 1, 3)


def split(read, new=0, update=0, quarantine=0, dup_batch=0, dup_existing=0):
    return {
        "rows_read": read,
        "new": new,
        "update": update,
        "quarantine": quarantine,
        "duplicate_in_batch": dup_batch,
        "duplicate_existing": dup_existing,
    }


def test_a_feed_that_adds_up_reconciles_per_platform():
    rec = reconcile(
        "b1",
        "logins",
        {"P01": 2, "P02": 1},
        landed={"P01": 10, "P02": 5},
        split={"P01": split(10, new=6, quarantine=2, dup_batch=1, dup_existing=1), "P02": split(5, new=4, update=1)},
        written={"P01": 6, "P02": 5},
        parked={"P01": 2},
        started=T0,
        finished=T1,
    )
    c = rec.counts
    assert (c.files, c.rows_read, c.new, c.update, c.quarantine, c.duplicates, c.split_mismatch, c.reconciled) == (
        3,
        15,
        10,
        1,
        2,
        2,
        0,
        True,
    )
    assert [r.as_tuple() for r in rec.audit] == [
        ("b1", "logins", "P01", 2, 0, None, 10, 6, 0, 2, 1, 1, True, T0, T1),
        ("b1", "logins", "P02", 1, 0, None, 5, 4, 1, 0, 0, 0, True, T0, T1),
    ]
    assert c.problem("b1", "logins") is None


def test_a_lost_write_does_not_reconcile_and_says_so():
    rec = reconcile(
        "b1",
        "traffic",
        {"P01": 1},
        landed={"P01": 10},
        split={"P01": split(10, new=8, quarantine=2)},
        written={"P01": 7},
        parked={"P01": 2},
        started=T0,
        finished=T1,
    )
    assert not rec.counts.reconciled and [r.reconciled for r in rec.audit] == [False]
    assert rec.counts.problem("b1", "traffic") == (
        "batch b1 feed traffic: read 10 rows but wrote 7 to silver, 2 to quarantine and removed 0 duplicates; "
        "the batch stays uncommitted (run ingest --recover)"
    )


def test_rows_multiplied_after_bronze_are_caught_even_when_the_sums_agree():
    # the split saw 11 rows where bronze has 10: one row doubled on its way, and quarantined twice
    rec = reconcile(
        "b1",
        "roster",
        {"P01": 1},
        landed={"P01": 10},
        split={"P01": split(11, new=8, quarantine=3)},
        written={"P01": 8},
        parked={"P01": 2},
        started=T0,
        finished=T1,
    )
    assert (rec.counts.rows_read, rec.counts.new + rec.counts.quarantine, rec.counts.split_mismatch) == (10, 10, 1)
    assert not rec.counts.reconciled
    assert rec.counts.problem("b1", "roster").endswith(
        "removed 0 duplicates (1 platforms lost or multiplied rows after bronze); "
        "the batch stays uncommitted (run ingest --recover)"
    )


def test_a_platform_with_bronze_rows_but_no_split_counts_does_not_reconcile():
    rec = reconcile("b1", "logins", {}, landed={"P09": 4}, split={}, written={}, parked={}, started=T0, finished=T1)
    assert [r.as_tuple()[2:13] for r in rec.audit] == [("P09", 0, 0, None, 4, 0, 0, 0, 0, 0, False)]
    assert rec.counts == FeedCounts(files=0, rows_read=4, split_mismatch=1)


def test_bronze_rows_that_differ_from_the_records_in_the_files_do_not_reconcile():
    # the file check counted 10 records in P01's files, but bronze holds 9: a file changed after it was checked
    rec = reconcile(
        "b1",
        "logins",
        {"P01": 2, "P02": 1},
        landed={"P01": 9, "P02": 5},
        split={"P01": split(9, new=9), "P02": split(5, new=5)},
        written={"P01": 9, "P02": 5},
        parked={},
        started=T0,
        finished=T1,
        delivered={"P01": 10, "P02": 5},
        files_quarantined={"P02": 1, "P03": 2},
    )
    assert [r.as_tuple()[2:6] + (r.reconciled,) for r in rec.audit] == [
        ("P01", 2, 0, 10, False),
        ("P02", 1, 1, 5, True),
        ("P03", 0, 2, 0, True),  # every file of P03 quarantined: audited with no rows
    ]
    assert (rec.counts.file_mismatch, rec.counts.files_quarantined, rec.counts.reconciled) == (1, 3, False)
    assert rec.counts.problem("b1", "logins") == (
        "batch b1 feed logins: read 14 rows but wrote 14 to silver, 0 to quarantine and removed 0 duplicates "
        "(1 platforms' bronze rows differ from the records in their files); "
        "the batch stays uncommitted (run ingest --recover)"
    )


def test_bronze_rows_without_a_platform_stop_the_feed_and_are_named():
    # a file Spark read under a name the file check did not list: its 3 rows have no platform (and P01 misses them)
    rec = reconcile(
        "b1",
        "logins",
        {"P01": 2},
        landed={"P01": 7, None: 3},
        split={"P01": split(7, new=7), None: split(3, quarantine=3)},
        written={"P01": 7},
        parked={None: 3},
        started=T0,
        finished=T1,
        delivered={"P01": 10},
    )
    assert [r.as_tuple()[2:13] for r in rec.audit] == [("P01", 2, 0, 10, 7, 7, 0, 0, 0, 0, False)]
    assert (rec.counts.rows_read, rec.counts.unattributed, rec.counts.reconciled) == (7, 3, False)
    assert rec.counts.problem("b1", "logins") == (
        "batch b1 feed logins: read 7 rows but wrote 7 to silver, 0 to quarantine and removed 0 duplicates "
        "(1 platforms' bronze rows differ from the records in their files) (3 bronze rows came from a file the "
        "batch's file check did not list); the batch stays uncommitted (run ingest --recover)"
    )
