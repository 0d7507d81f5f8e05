"""Generate a tiny national feed once, then ingest it in one shot, and again (idempotent). Batches in steps:
test_batch_lifecycle."""

import hashlib
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl import lake
from etl.catalog import Tables
from etl.config import FEED_NAMES, load_generator
from jobs import generate, ingest
from tests.helpers import SCALE, SEED, tiny_generator


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


def test_generate_never_writes_over_an_earlier_feed(spark, settings, generated, tmp_path):
    out = str(Path(generated.landing).parent)
    # another seed and chunking: 1 pass, not 2, and another fingerprint of the config
    with pytest.raises(
        generate.OutputExists,
        match=(
            rf"^{re.escape(out)}/truth holds passes of another feed \(config_sha256: "
            rf"'[0-9a-f]{{64}}' != '[0-9a-f]{{64}}'; passes: 2 != 1; seed: 11 != 1\); give a new --out, "
            r"or remove it first$"
        ),
    ):
        generate.run(spark, settings, load_generator(), SCALE, 1, out)
    # a folder holding anything but passes of iiap generate
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "old.csv").write_text("a,b\n")
    with pytest.raises(
        generate.OutputExists,
        match=f"^{re.escape(str(tmp_path))}/landing already holds files; give a new --out, or remove it first",
    ):
        generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(tmp_path))


def test_passes_written_by_separate_runs_make_the_same_feed(spark, settings, generated, tmp_path):
    out = tmp_path / "split"
    later = generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(out), passes=[1])
    m = later.manifest
    assert (m["passes"], m["passes_written"], m["complete"]) == (2, [1], False)
    assert m["file_faults"] == {"redelivered": [], "renamed_column": [], "extra_column": []}  # they go into pass 00
    whole = json.loads(open(f"{generated.truth}/manifest.json").read())
    assert 0 < m["enterprises"] < whole["enterprises"] and m["files"] == later.files
    with pytest.raises(
        generate.OutputExists,
        match=(
            f"^passes 01 are already in {re.escape(str(out))}/truth/passes; "
            "a pass is never written twice \\(give a new --out for another feed\\)$"
        ),
    ):
        generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(out), passes=[1])
    with pytest.raises(generate.OutputExists, match=r"holds passes of another feed \(seed: 11 != 12\)"):
        generate.run(spark, settings, tiny_generator(), SCALE, SEED + 1, str(out), passes=[0])
    with pytest.raises(generate.PassOutOfRange, match=r"^passes \[2\] asked for, but scale 0.0003 has 2 \(0-1\)$"):
        generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(out), passes=[2])
    # a file of pass 00 left by a run that did not finish stops the pass until it is removed
    stray = out / "landing" / "P01" / "logins" / "2020-06-02" / "P01_logins_20200602_00.jsonl"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("{}\n")
    with pytest.raises(
        generate.OutputExists,
        match=(
            f"^1 file of passes 00, resend are in {re.escape(str(out))}/landing \\(e.g. "
            f"{re.escape(str(stray))}\\) from a run"
        ),
    ):
        generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(out), passes=[0])
    stray.unlink()

    first = generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(out), passes=[0])
    assert first.manifest == whole | {"passes_written": [0, 1], "complete": True}
    for part in ("00", "01"):  # each pass's own record, file faults included (pass 00's only), as one run writes it
        assert json.loads(open(f"{first.truth}/passes/{part}.json").read()) == json.loads(
            open(f"{generated.truth}/passes/{part}.json").read()
        ), part
    assert first.files + later.files == generated.files

    def contents(root) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in Path(root).rglob("*")
            if p.is_file()
        }

    assert contents(first.landing) == contents(generated.landing)  # byte for byte, every file
    assertDataFrameEqual(
        spark.read.parquet(f"{first.truth}/enterprises"), spark.read.parquet(f"{generated.truth}/enterprises")
    )


@pytest.mark.parametrize(
    ("spec", "expected"), [("3", [3]), ("0-4", [0, 1, 2, 3, 4]), ("7-9,0, 3", [0, 3, 7, 8, 9]), ("2-2,2", [2])]
)
def test_pass_lists(spec, expected):
    assert generate.parse_passes(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "'' is not a list of passes such as 3, 0-4 or 0,3,7-9"),
        ("a", "'a' is not a list"),
        ("1-", "'1-' is not a list"),
        ("-1", "'-1' is not a list"),
        ("4-2", "'4-2': a range runs from low to high"),
    ],
)
def test_bad_pass_lists(spec, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        generate.parse_passes(spec)


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
    assert reasons >= {
        "malformed_record",
        "missing_field",
        "unexpected_field",
        "invalid_credit_code",
        "unknown_tenant",
        "invalid_timestamp",
        "timestamp_out_of_window",
        "timestamp_in_future",
        "invalid_number",
        "negative_value",
        "implausible_value",
    }


def test_silver_tables_are_canonical(spark, one_shot):
    s, _ = one_shot
    t = Tables(s)
    logins = lake.read(spark, t.silver("logins"))
    assert logins.filter(F.col("user_key").rlike("^[0-9a-f]{64}$")).count() == logins.count()
    assert logins.filter(F.col("credit_code").isNull()).count() == 0
    assert logins.select(F.min("event_date"), F.max("event_date")).first() == (date(2020, 6, 1), date(2020, 6, 30))
    usage = lake.read(spark, t.silver("resource_usage"))
    assert {r.resource_kind: r.unit for r in usage.select("resource_kind", "unit").distinct().collect()} == {
        "compute": "core_hours",
        "storage": "bytes",
        "app_session": "count",
    }
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
