"""Generate a tiny national feed once, then ingest it in one shot, and again (idempotent). Batches in steps: test_batch_lifecycle."""

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from etl import lake
from etl.config import FEED_NAMES, load_generator
from etl.tables import Tables
from jobs import generate, ingest

from conftest import SCALE

pytestmark = pytest.mark.e2e


def test_manifest_matches_what_was_written(generated):
    m = json.loads(open(f"{generated.truth}/manifest.json").read())
    assert m["enterprises"] == round(10_850_000 * SCALE)
    assert m["effective"] == round(1_619_865 * SCALE)
    assert m["files"] == generated.files
    assert len(m["file_faults"]["redelivered"]) == 3
    assert len(m["file_faults"]["renamed_column"]) == 1
    assert len(m["file_faults"]["extra_column"]) == 1
    assert m["passes"] == 2
    names = {p.name for p in Path(generated.landing).rglob("*") if p.is_file()}
    assert len(names) == m["files"]
    parts = Counter(n.split("_")[-1].split(".")[0] for n in names)  # <platform>_<feed>_<yyyymmdd>_<part><ext>
    assert set(parts) == {"00", "01", "resend"} and parts["resend"] == 3 and min(parts["00"], parts["01"]) > 1000


def test_generate_never_writes_over_an_earlier_feed(spark, settings, generated):
    out = str(Path(generated.landing).parent)
    with pytest.raises(generate.OutputExists, match=f"{out}/landing already holds files; give a new --out, or remove it first"):
        generate.run(spark, settings, load_generator(), SCALE, 1, out)


def test_every_injected_fault_is_found_with_its_exact_count(spark, one_shot, generated):
    s, result = one_shot
    truth = json.loads(open(f"{generated.truth}/manifest.json").read())["feeds"]
    q = lake.read(spark, Tables(s).quarantine).groupBy("feed", "reason_code").count().collect()
    found: dict[str, dict[str, int]] = {}
    for r in q:
        found.setdefault(r.feed, {})[r.reason_code] = r["count"]
    for feed in FEED_NAMES:
        assert found.get(feed, {}) == truth[feed]["quarantine"], feed
        counts = result.feeds[feed]
        assert counts.rows_read == truth[feed]["rows_delivered"], feed
        assert counts.new == truth[feed]["silver"], feed
        assert counts.duplicates == truth[feed]["duplicates"], feed
        assert counts.reconciled
    # every fault class of the generator shows up at least once at this scale
    reasons = {reason for feed in truth.values() for reason in feed["quarantine"]}
    assert reasons >= {"malformed_record", "missing_field", "unexpected_field", "invalid_credit_code", "unknown_tenant", "invalid_timestamp",
                       "timestamp_out_of_window", "timestamp_in_future", "invalid_number", "negative_value", "implausible_value"}


def test_silver_tables_are_canonical(spark, one_shot):
    s, _ = one_shot
    t = Tables(s)
    logins = lake.read(spark, t.silver("logins"))
    assert logins.filter(F.col("user_key").rlike("^[0-9a-f]{64}$")).count() == logins.count()
    assert logins.filter(F.col("credit_code").isNull()).count() == 0
    assert logins.select(F.min("event_date"), F.max("event_date")).first() == (date(2020, 6, 1), date(2020, 6, 30))
    usage = lake.read(spark, t.silver("resource_usage"))
    assert {r.resource_kind: r.unit for r in usage.select("resource_kind", "unit").distinct().collect()} == {"compute": "core_hours", "storage": "bytes", "app_session": "count"}
    master = lake.read(spark, t.master)
    roster = lake.read(spark, t.silver("roster"))
    assert master.count() == roster.select("credit_code").distinct().count()
    assert master.filter(F.col("province_code") != F.substring("credit_code", 3, 2)).count() == 0
    audit = lake.read(spark, t.audit)
    assert audit.filter(~F.col("reconciled")).count() == 0


def test_second_run_changes_nothing(spark, one_shot):
    s, _ = one_shot
    t = Tables(s)
    before = {p: lake.version(spark, p) for p in t.written_by_ingest()}
    again = ingest.run(spark, s)
    assert again.batch_id is None
    assert {p: lake.version(spark, p) for p in t.written_by_ingest()} == before
