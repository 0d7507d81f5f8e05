"""Deliveries that are not the generator's: bad files among good ones, Windows text, odd names, and content identity.

Two small landings are cut from the session's tiny feed (six platforms: jsonl.gz, CSV in
UTF-8 and GBK, Parquet; rosters and two days of logins). `clean` holds the files as
generated. `hostile` holds the same deliveries, one CSV rewritten with a byte-order mark
and CRLF line ends, plus a file for every way a file can be unreadable and one CSV (with
a name full of glob characters) whose rows are good, quoted, NUL-bearing or unbalanced.
Both are ingested; the hostile one must give the clean one's tables plus exactly its
hostile rows and files.
"""

import gzip
import hashlib
import os
import re
import shutil
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl import lake
from etl.catalog import Tables, UnfinishedBatch
from etl.pseudonym import KeyChanged, fingerprint
from jobs import classify, ingest
from tests.helpers import settings_for

PLATFORMS = ("P01", "P02", "P04", "P05", "P10", "P11")
FIX_NAME = "P02_logins fix [v2] {a,b} 修正.csv"
LINEAGE = ("batch_id", "ingested_at", "source_file", "quarantined_at")


@dataclass
class Run:
    settings: object
    result: object
    tables: Tables


def _cut(generated_landing: str, out: Path) -> dict[str, list[str]]:
    """Rosters and the first two login days of PLATFORMS; returns the login days per platform."""
    src = Path(generated_landing)
    days = {}
    for pid in PLATFORMS:
        shutil.copytree(src / pid / "roster", out / pid / "roster")
        days[pid] = sorted(p.name for p in (src / pid / "logins").iterdir())[:2]
        assert len(days[pid]) == 2, pid
        for day in days[pid]:
            shutil.copytree(src / pid / "logins" / day, out / pid / "logins" / day)
    return days


def _one(folder: Path) -> Path:
    return sorted(p for p in folder.iterdir() if p.name.endswith("_00" + "".join(p.suffixes)))[0]


def _write_hostile(landing: Path, days: dict[str, list[str]]) -> dict:
    """The bad files and rows; returns what the test needs to know of them."""
    logins = {pid: landing / pid / "logins" / days[pid][0] for pid in PLATFORMS}
    # Windows text: same delivery, same name, BOM + CRLF + trailing blank lines
    p02 = _one(logins["P02"])
    text = p02.read_bytes()
    p02.write_bytes(b"\xef\xbb\xbf" + text.replace(b"\n", b"\r\n") + b"\r\n\r\n")
    # unreadable gzip: truncated, and not gzip at all
    good_gz = _one(logins["P01"]).read_bytes()
    (logins["P01"] / "P01_logins_truncated.jsonl.gz").write_bytes(good_gz[: len(good_gz) // 2])
    (logins["P01"] / "P01_logins_plain.jsonl.gz").write_bytes(gzip.decompress(good_gz))
    # Parquet: zero bytes and the wrong schema (P04); corrupt (P11)
    (logins["P04"] / "P04_logins_empty.parquet").write_bytes(b"")
    pq.write_table(pa.table({"x": ["1"], "y": ["2"]}), logins["P04"] / "P04_logins_other.parquet")
    (logins["P11"] / "P11_logins_corrupt.parquet").write_bytes(b"PAR1" + os.urandom(200) + b"PAR1")
    # CSV (P02, UTF-8): a line over max_line_bytes, a header wider than max_columns
    header = p02.read_bytes().split(b"\r\n")[0].removeprefix(b"\xef\xbb\xbf")
    (logins["P02"] / "P02_logins_long.csv").write_bytes(header + b"\n" + b"x" * 5000 + b"\n")
    (logins["P02"] / "P02_logins_wide.csv").write_bytes(b",".join(b"c%d" % i for i in range(300)) + b"\n1\n")
    # CSV (P10, GBK): bytes that are not GBK, a repeated header name
    gbk = _one(logins["P10"]).read_bytes().split(b"\n")
    (logins["P10"] / "P10_logins_bytes.csv").write_bytes(gbk[0] + b"\n" + gbk[1] + b"\x80\xff\n")
    first = gbk[0].split(b",")[0]
    (logins["P10"] / "P10_logins_header.csv").write_bytes(first + b"," + gbk[0] + b"\n" + gbk[1] + b"\n")
    # rows of the second day (P02): good, RFC 4180-quoted, NUL byte, unbalanced quote, then a quoted field that holds
    # a line break (the stray quote before it must not swallow it); blank lines
    day2 = landing / "P02" / "logins" / days["P02"][1]
    rosters = (landing / "P02" / "roster").rglob("*.csv")
    roster = {line.split(",")[0] for f in rosters for line in f.read_text("utf-8").splitlines()}
    lines = [line.split(",") for line in _one(day2).read_text(encoding="utf-8").splitlines()[1:]]
    good = sorted(p for p in lines if len(p) == 4 and p[0] in roster and p[2].isdigit() and len(p[2]) == 13)
    tenant, user, ts, channel = good[len(good) // 2]
    rows = [
        f'{tenant},"{user},1",{ts},{channel}',
        f'{tenant},"{user}""2",{ts},{channel}',
        f"{tenant},{user}\x003,{ts},{channel}",
        " \t ",  # spaces and a tab: a blank line
        f'{tenant},"{user}4,{ts},{channel}',
        f'{tenant},"{user}\n5",{ts},{channel}',
    ]
    (day2 / FIX_NAME).write_bytes(("\n".join([header.decode(), *rows]) + "\n\n\n").encode())
    return {"users": [f"{user},1", f'{user}"2', f"{user}\n5"], "p02": p02}


def _ingest(spark, settings, lakehouse: Path, landing: Path, vanished: Path | None = None, mp=None) -> Run:
    s = settings_for(settings, lakehouse, str(landing))
    ingest_conf = s.pipeline.ingest.model_copy(update={"max_line_bytes": 4096, "max_columns": 64})
    s = s.model_copy(update={"pipeline": s.pipeline.model_copy(update={"ingest": ingest_conf})})
    if vanished is not None:  # listed, then gone before it is read
        real = ingest.discover

        def listing_a_ghost(*args, **kw):
            found = real(*args, **kw)
            template = next(f for f in found if f.relative.startswith("P05/logins/"))
            ghost = replace(template, path=str(vanished), relative=str(vanished.relative_to(landing)))
            return sorted([*found, ghost], key=lambda f: f.relative)

        mp.setattr(ingest, "discover", listing_a_ghost)
    return Run(s, ingest.run(spark, s), Tables(s))


@pytest.fixture(scope="module")
def runs(spark, settings, generated, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    days = _cut(generated.landing, root / "clean")
    shutil.copytree(root / "clean", root / "hostile")
    known = _write_hostile(root / "hostile", days)
    clean = _ingest(spark, settings, root / "lake_clean", root / "clean")
    vanished = root / "hostile" / "P05" / "logins" / days["P05"][0] / "P05_logins_gone.jsonl.gz"
    with pytest.MonkeyPatch.context() as mp:
        hostile = _ingest(spark, settings, root / "lake_hostile", root / "hostile", vanished, mp)
    return {"clean": clean, "hostile": hostile, "root": root, "days": days, **known}


def _without_lineage(frame):
    return frame.select([c for c in frame.columns if c not in LINEAGE])


def _fix_file(frame, keep: bool = True):
    in_fix = F.col("source_file").contains("fix%20")
    return frame.filter(in_fix if keep else ~in_fix)


def test_both_batches_commit_and_reconcile(runs):
    for run in (runs["clean"], runs["hostile"]):
        assert run.result.batch_id is not None
        assert all(c.reconciled for c in run.result.feeds.values())


def test_every_bad_file_is_quarantined_as_a_file_with_its_reason(spark, runs):
    t = runs["hostile"].tables
    files = lake.read(spark, t.quarantine).filter(F.col("raw_record").isNull())
    got = sorted((r.platform_id, r.source_file.rsplit("/", 1)[1], r.reason_code) for r in files.collect())
    assert got == [
        ("P01", "P01_logins_plain.jsonl.gz", "unreadable_file"),
        ("P01", "P01_logins_truncated.jsonl.gz", "unreadable_file"),
        ("P02", "P02_logins_long.csv", "oversized_line"),
        ("P02", "P02_logins_wide.csv", "too_many_columns"),
        ("P04", "P04_logins_empty.parquet", "unreadable_file"),
        ("P04", "P04_logins_other.parquet", "wrong_schema"),
        ("P05", "P05_logins_gone.jsonl.gz", "vanished_file"),
        ("P10", "P10_logins_bytes.csv", "undecodable_file"),
        ("P10", "P10_logins_header.csv", "duplicate_header"),
        ("P11", "P11_logins_corrupt.parquet", "unreadable_file"),
    ]
    details = {r.source_file.rsplit("/", 1)[1]: r.reason_detail for r in files.collect()}
    long = runs["root"] / "hostile" / "P02" / "logins" / runs["days"]["P02"][0] / "P02_logins_long.csv"
    assert details["P02_logins_long.csv"] == (
        f"line 2 has more than 4096 bytes (5000 or more) [{long.stat().st_size:,} bytes, "
        f"sha256 {hashlib.sha256(long.read_bytes()).hexdigest()}]"
    )
    assert details["P02_logins_wide.csv"].startswith("the header has 300 columns, at most 64 allowed [")
    assert details["P01_logins_truncated.jsonl.gz"].startswith("the gzip stream ends early (truncated file) [")
    assert runs["hostile"].result.quarantined_files == {
        "duplicate_header": 1,
        "oversized_line": 1,
        "too_many_columns": 1,
        "undecodable_file": 1,
        "unreadable_file": 4,
        "vanished_file": 1,
        "wrong_schema": 1,
    }


def test_the_audit_and_the_quality_history_count_the_quarantined_files(spark, runs):
    t = runs["hostile"].tables
    audit = lake.read(spark, t.audit).filter(F.col("feed") == "logins")
    clean = lake.read(spark, runs["clean"].tables.audit).filter(F.col("feed") == "logins")
    read = {r.platform_id: r.files + (r.platform_id == "P02") for r in clean.collect()}  # + the fix file
    bad = {"P01": 2, "P02": 2, "P04": 2, "P05": 1, "P10": 2, "P11": 1}
    assert {r.platform_id: (r.files, r.files_quarantined) for r in audit.collect()} == {
        pid: (read[pid], bad[pid]) for pid in PLATFORMS
    }
    assert all(r.records_in_files == r.rows_read for r in audit.collect())
    assert runs["hostile"].result.feeds["logins"].files_quarantined == 10
    history = lake.read(spark, t.path("ops.quality_history")).filter(F.col("suite") == "landing.files").collect()
    assert [(h.rule, h.success, h.element_count, h.unexpected_count) for h in history] == [
        ("files_readable", True, 6, 0)  # 6 platforms; none with more than half its files unreadable
    ]
    assert history[0].observed == {"P01": 2.0, "P02": 2.0, "P04": 2.0, "P05": 1.0, "P10": 2.0, "P11": 1.0}


def test_good_rows_land_exactly_as_from_the_clean_files(spark, runs):
    c, h = runs["clean"].tables, runs["hostile"].tables
    for table in ("silver.roster", "silver.logins", "bronze.roster", "bronze.logins"):
        clean = _without_lineage(lake.read(spark, c.path(table)))
        hostile = _without_lineage(_fix_file(lake.read(spark, h.path(table)), keep=False))
        assertDataFrameEqual(hostile, clean)
    rows = lake.read(spark, h.quarantine).filter(F.col("raw_record").isNotNull())
    assertDataFrameEqual(
        _without_lineage(_fix_file(rows, keep=False)), _without_lineage(lake.read(spark, c.quarantine))
    )


def test_rows_of_a_file_with_glob_characters_in_its_name_are_read_as_rfc_4180_records(spark, runs):
    h = runs["hostile"].tables
    bronze = _fix_file(lake.read(spark, h.bronze("logins")))
    assert sorted(((r.user_id, r.parse_error) for r in bronze.collect()), key=str) == sorted(
        [*((u, None) for u in runs["users"]), (None, "nul_byte"), (None, "unbalanced_quote")], key=str
    )
    q = _fix_file(lake.read(spark, h.quarantine))
    assert sorted(r.reason_code for r in q.collect()) == ["nul_byte", "unbalanced_quote"]
    assert _fix_file(lake.read(spark, h.silver("logins"))).count() == 3


def test_a_rerun_finds_nothing_new(spark, runs):
    h = runs["hostile"]
    before = {p: lake.version(spark, p) for p in h.tables.written_by_ingest()}
    assert ingest.run(spark, h.settings).batch_id is None
    assert {p: lake.version(spark, p) for p in h.tables.written_by_ingest()} == before


def _counts(spark, t: Tables) -> dict[str, int]:
    tables = ("bronze.logins", "silver.logins", "quarantine.records", "ops.ingest_audit")
    return {name: lake.read(spark, t.path(name)).count() for name in tables}


def _manifest(spark, t: Tables, batch_id: str) -> list[tuple[str, str, str | None]]:
    rows = lake.read(spark, t.manifest).filter(F.col("batch_id") == batch_id).collect()
    return sorted((r.relative_path.rsplit("/", 1)[1], r.status, r.reason_code) for r in rows)


def test_a_delivery_is_known_by_its_content(spark, runs):
    """Move the landing root, touch a file, re-send one byte for byte, re-send one changed: exact counts after each."""
    h, root = runs["hostile"], runs["root"]
    first = _counts(spark, h.tables)
    moved = root / "moved"
    shutil.copytree(root / "hostile", moved)
    s = settings_for(h.settings, h.settings.pipeline.lakehouse_root, str(moved))
    r = ingest.run(spark, s)
    n_files = len([p for p in moved.rglob("*") if p.is_file()])
    assert (r.files, r.resent, r.quarantined_files) == (n_files, n_files, {})
    assert _counts(spark, h.tables) == first  # nothing read again, nothing counted twice
    assert ingest.run(spark, s).batch_id is None  # and now known by path, size and time: not even hashed

    day = moved / "P02" / "logins" / runs["days"]["P02"][1]
    touched = _one(day)
    os.utime(touched, (1_600_000_000, 1_600_000_000))
    shutil.copyfile(touched, day / "P02_logins_again.csv")
    changed = _one(moved / "P01" / "logins" / runs["days"]["P01"][1])
    text = gzip.decompress(changed.read_bytes())
    changed.write_bytes(gzip.compress(text + text.splitlines(keepends=True)[0]))  # one more record
    r = ingest.run(spark, s)
    assert _manifest(spark, h.tables, r.batch_id) == sorted(
        [
            (changed.name, "quarantined", "changed_redelivery"),
            ("P02_logins_again.csv", "resent", None),
            (touched.name, "resent", None),
        ]
    )
    assert _counts(spark, h.tables) == first | {
        "quarantine.records": first["quarantine.records"] + 1,
        "ops.ingest_audit": first["ops.ingest_audit"] + 1,  # P01 logins: its one file quarantined
    }
    (q,) = lake.read(spark, h.tables.quarantine).filter(F.col("batch_id") == r.batch_id).collect()
    assert q.reason_detail.startswith(
        f"P01/logins/{runs['days']['P01'][1]}/{changed.name} was ingested in batch {h.result.batch_id} with other "
        "content (sha256 "
    )


def test_recover_removes_the_tables_and_scratch_of_a_batch_that_created_them(spark, runs, tmp_path):
    """A first batch killed after the enterprise master was written: --recover must drop the master (no batch_id to
    delete by), remove the scratch the run left, and the redone batch equal an uninterrupted one."""
    clean = runs["clean"]
    s = settings_for(clean.settings, tmp_path / "lake", str(runs["root"] / "clean"))
    t = Tables(s)
    rosters_only = date(2020, 5, 31)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ingest, "_manifest_rows", lambda batch: (_ for _ in ()).throw(RuntimeError("killed")))
        with pytest.raises(RuntimeError, match="^killed$"):
            ingest.run(spark, s, until=rosters_only)
    (failed,) = [r.batch_id for r in lake.read(spark, t.batches).collect()]
    assert lake.exists(spark, t.path("silver.enterprise_master"))
    with pytest.raises(UnfinishedBatch) as refused:  # classify will not read half a batch
        classify.load_inputs(spark, s, None)
    assert re.fullmatch(
        rf"ingest batch {failed} \(started [0-9: -]+\) did not finish, so its tables may hold part of it: run iiap "
        r"ingest --recover first",
        str(refused.value),
    )
    leftover = Path(t.staging(failed)) / "roster" / "bronze"
    leftover.mkdir(parents=True)  # as a kill -9 leaves it
    redone = ingest.run(spark, s, until=rosters_only, recover_incomplete=True)
    statuses = sorted((r.batch_id == failed, r.status) for r in lake.read(spark, t.batches).collect())
    assert statuses == [
        (False, "committed"),
        (False, "started"),
        (True, "committed"),
        (True, "rolled_back"),
        (True, "started"),
    ]
    assert not Path(t.staging(failed)).exists()
    master = lake.read(spark, t.path("silver.enterprise_master"))
    assert lake.version(spark, t.path("silver.enterprise_master")) == 0  # created again by the redone batch only
    assertDataFrameEqual(master, lake.read(spark, clean.tables.path("silver.enterprise_master")))
    assert redone.feeds["roster"].reconciled


def test_ingest_refuses_another_pseudonymisation_key_until_told_it_is_a_rotation(spark, runs, monkeypatch):
    clean = runs["clean"]
    (recorded,) = [r.key_fingerprint for r in lake.read(spark, clean.tables.batches).collect() if r.key_fingerprint]
    assert recorded == fingerprint(os.environ["IIAP_PSEUDONYM_KEY"].encode())
    monkeypatch.setenv("IIAP_PSEUDONYM_KEY", "another-key-0123456789")
    with pytest.raises(KeyChanged) as refused:
        ingest.run(spark, clean.settings)
    assert str(refused.value) == (
        f"the pseudonymisation key is not the one this lakehouse's batches used (fingerprint {recorded}, this key's "
        f"{fingerprint(b'another-key-0123456789')}): the same users would get other user_keys; if this is a "
        "deliberate key rotation, rerun with --rotate-key"
    )
    assert ingest.run(spark, clean.settings, rotate_key=True).batch_id is None  # allowed; nothing new to ingest


def test_rows_of_a_file_whose_spark_name_is_not_matched_stop_the_batch_unwritten(spark, runs, tmp_path):
    """Bronze gives each row its platform by joining on the name Spark reads the file under: a name computed wrong
    leaves the file's rows without a platform, and the per-platform reconciliation stops the batch, nothing lost."""
    import etl.bronze

    landing = tmp_path / "landing"
    for pid in ("P01", "P02"):  # enough rows that one file's stay under the unknown-tenant gate (20 %)
        shutil.copytree(runs["root"] / "clean" / pid, landing / pid)
    s = settings_for(runs["clean"].settings, tmp_path / "lake", str(landing))
    real = etl.bronze.spark_file_names
    miss = sorted((landing / "P01" / "logins").rglob("*.jsonl.gz"))[0]

    def one_name_wrong(spark_, paths):
        return {p: n + "-not-this-one" if p == str(miss) else n for p, n in real(spark_, paths).items()}

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(etl.bronze, "spark_file_names", one_name_wrong)
        with pytest.raises(ingest.ReconciliationError) as stopped:
            ingest.run(spark, s)
    said = re.fullmatch(
        r"batch \S+ feed logins: read \d+ rows but wrote \d+ to silver, \d+ to quarantine and removed \d+ duplicates "
        r"\(1 platforms' bronze rows differ from the records in their files\) \((\d+) bronze rows came from a file "
        r"the batch's file check did not list\); the batch stays uncommitted \(run ingest --recover\)",
        str(stopped.value),
    )
    assert said is not None, str(stopped.value)
    t = Tables(s)
    assert sorted(r.status for r in lake.read(spark, t.batches).collect()) == ["started"]
    lines = len(gzip.decompress(miss.read_bytes()).decode().splitlines())
    assert int(said[1]) == lines
    orphans = lake.read(spark, t.bronze("logins")).filter(F.col("platform_id").isNull())
    assert orphans.count() == lines  # kept in the uncommitted batch for --recover to roll back, not dropped
