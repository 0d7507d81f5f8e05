"""Which landing files are new deliveries: known by content, corrections rejected, retries on demand."""

from dataclasses import replace
from datetime import date

from etl.landing import LandingFile
from etl.manifest import INGESTED, QUARANTINED, RESENT, Entry, Known, retry_problems, settle, to_check

DAY = date(2020, 6, 2)


def _file(rel: str, content: str, root: str = "/land", mtime: int = 1, code: str | None = None) -> LandingFile:
    pid, feed = rel.split("/")[:2]
    f = LandingFile(f"{root}/{rel}", rel, 10, mtime, pid, feed, DAY, content_hash=content)
    return f.rejected(code, "bad") if code else f


def _entry(f: LandingFile, status: str, batch: str = "b1") -> Entry:
    return Entry(
        f.path, f.relative, f.platform_id, f.feed, f.delivery_date, f.size, f.mtime_ms, f.content_hash, status, batch
    )


def _statuses(settled) -> list[tuple[str, str, str | None]]:
    return [(f.path, status, f.reason_code) for f, status in settled]


A, B = _file("P01/logins/2020-06-02/a.jsonl", "h1"), _file("P01/logins/2020-06-02/b.jsonl", "h2")
KNOWN = Known.of([_entry(A, INGESTED), _entry(B, INGESTED)])


def test_a_file_already_recorded_with_its_path_size_and_time_is_not_read_again():
    assert to_check([A, B], KNOWN, None, frozenset()) == []


def test_a_moved_landing_root_is_read_once_to_hash_and_found_resent():
    moved = [replace(f, path=f.path.replace("/land", "/copy")) for f in (A, B)]
    assert to_check(moved, KNOWN, None, frozenset()) == moved
    assert _statuses(settle(moved, KNOWN, frozenset())) == [
        ("/copy/P01/logins/2020-06-02/a.jsonl", RESENT, None),
        ("/copy/P01/logins/2020-06-02/b.jsonl", RESENT, None),
    ]


def test_a_touched_file_and_a_byte_identical_resend_are_resent():
    touched, again = replace(A, mtime_ms=99), _file("P01/logins/2020-06-02/a_resend.jsonl", "h1")
    assert _statuses(settle([touched, again], KNOWN, frozenset())) == [
        (A.path, RESENT, None),
        (again.path, RESENT, None),
    ]


def test_the_same_content_for_another_day_or_platform_is_a_new_delivery():
    other_day = replace(_file("P01/logins/2020-06-03/a.jsonl", "h1"), delivery_date=date(2020, 6, 3))
    assert _statuses(settle([other_day], KNOWN, frozenset())) == [(other_day.path, INGESTED, None)]


def test_a_changed_file_of_an_ingested_name_is_rejected_naming_the_earlier_batch():
    changed = replace(A, content_hash="h9" * 8, mtime_ms=5)
    ((f, status),) = settle([changed], KNOWN, frozenset())
    assert (status, f.reason_code) == (QUARANTINED, "changed_redelivery")
    assert f.problem == (
        "P01/logins/2020-06-02/a.jsonl was ingested in batch b1 with other content (sha256 h1…, now "
        "h9h9h9h9h9h9…); a changed file of the same name is not read: send corrections in a new file"
    )


def test_two_identical_new_files_in_one_batch_are_read_once():
    x, y = _file("P02/logins/2020-06-02/x.csv", "h5"), _file("P02/logins/2020-06-02/y.csv", "h5")
    assert _statuses(settle([y, x], KNOWN, frozenset())) == [(x.path, INGESTED, None), (y.path, RESENT, None)]


def test_a_quarantined_file_is_retried_when_its_content_changes_or_an_operator_asks():
    bad = _file("P03/logins/2020-06-02/c.jsonl.gz", "h7", code="unreadable_file")
    known = Known.of([_entry(bad, QUARANTINED)])
    fixed = replace(bad, content_hash="h8", mtime_ms=2, reason_code=None, problem=None)
    assert _statuses(settle([fixed], known, frozenset())) == [(bad.path, INGESTED, None)]
    touched = replace(bad, mtime_ms=3)
    assert _statuses(settle([touched], known, frozenset())) == [(bad.path, RESENT, "unreadable_file")]
    assert to_check([bad], known, None, frozenset()) == []
    assert to_check([bad], known, None, frozenset({bad.path})) == [bad]
    assert _statuses(settle([bad], known, frozenset({bad.path}))) == [(bad.path, QUARANTINED, "unreadable_file")]


def test_a_file_that_could_not_be_read_at_all_is_tried_again_next_run():
    gone = _file("P03/logins/2020-06-02/g.jsonl.gz", None, code="vanished_file")
    known = Known.of([_entry(gone, QUARANTINED)])
    assert to_check([gone], known, None, frozenset()) == [gone]


def test_until_keeps_later_deliveries_for_a_later_batch():
    later = replace(_file("P01/logins/2020-06-09/z.jsonl", "h3"), delivery_date=date(2020, 6, 9))
    assert to_check([later], Known(), date(2020, 6, 5), frozenset()) == []


def test_retry_names_a_listed_quarantined_file():
    bad = _file("P03/logins/2020-06-02/c.jsonl.gz", "h7", code="unreadable_file")
    known = Known.of([_entry(A, INGESTED), _entry(bad, QUARANTINED)])
    assert retry_problems(frozenset({bad.path}), [A, bad], known) == []
    assert retry_problems(frozenset({A.path, "/land/nope.csv"}), [A, bad], known) == [
        "--retry /land/P01/logins/2020-06-02/a.jsonl: it was ingested in batch b1; only a quarantined file is retried",
        "--retry /land/nope.csv: no such file under the landing root",
    ]
