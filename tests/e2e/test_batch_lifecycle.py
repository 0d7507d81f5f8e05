"""One lakehouse through a batch's life: a batch that does not reconcile and is recovered,
one a quality gate rejects, then the incremental load of everything else.

Each step is a module fixture built on the previous one, so any test can run alone;
the steps run once per session. The first batch holds only the rosters (delivered the
day before the window) and the rejected one the first days of logins, which keeps the
steps small.
"""

import re
import shutil
from dataclasses import dataclass, field
from datetime import date

import pytest
from click.testing import CliRunner
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl import lake, outcomes
from etl.catalog import Tables
from etl.config import FEED_NAMES
from jobs import ingest
from jobs.cli import main
from quality.runner import QualityGateFailed
from quality.spec import load_quality
from tests.helpers import settings_for

ROSTERS_ONLY, FIRST_DAYS = date(2020, 5, 31), date(2020, 6, 5)


@dataclass
class Step:
    settings: object
    seen: dict = field(default_factory=dict)


def _versions(spark, t: Tables) -> dict:
    return {p: lake.version(spark, p) for p in t.written_by_ingest()}


def _silver_equal(spark, left: Tables, right: Tables, feeds=FEED_NAMES) -> None:
    for feed in feeds:
        cols = [
            c
            for c in lake.read(spark, left.silver(feed)).columns
            if c not in ("batch_id", "ingested_at", "source_file")
        ]
        assertDataFrameEqual(
            lake.read(spark, left.silver(feed)).select(cols), lake.read(spark, right.silver(feed)).select(cols)
        )


@pytest.fixture(scope="module")
def recovered(spark, settings, generated, tmp_path_factory) -> Step:
    """Step 1: a fan-out bug doubles a quarantined roster row; the batch stops uncommitted, then --recover redoes it.

    A doubled row that goes on to silver is stopped earlier, by the natural-key gate; a
    quarantined one passes every rule, so only the reconciliation can catch it.
    """
    step = Step(settings_for(settings, tmp_path_factory.mktemp("lake_lifecycle"), generated.landing))
    t = Tables(step.settings)
    real_assign = outcomes.assign

    def multiplying(conformed, existing, on_existing):
        flagged = real_assign(conformed, existing, on_existing)
        return flagged.unionByName(flagged.filter(F.col("outcome") == outcomes.QUARANTINE).limit(1))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(outcomes, "assign", multiplying)
        with pytest.raises(ingest.ReconciliationError) as err:
            ingest.run(spark, step.settings, until=ROSTERS_ONLY)
    step.seen["error"] = str(err.value)
    step.seen["manifest_after_failure"] = lake.exists(spark, t.manifest)
    step.seen["roster_rows_after_failure"] = lake.read(spark, t.silver("roster")).count()
    with pytest.raises(ingest.IncompleteBatch) as blocked:
        ingest.run(spark, step.settings, until=ROSTERS_ONLY)
    step.seen["blocked"] = str(blocked.value)
    step.seen["result"] = ingest.run(spark, step.settings, until=ROSTERS_ONLY, recover_incomplete=True)
    step.seen["statuses"] = sorted(r.status for r in lake.read(spark, t.batches).filter(F.col("files") > 0).collect())
    return step


@pytest.fixture(scope="module")
def rejected(spark, recovered, generated, tmp_path_factory) -> Step:
    """Step 2: with a gate at 0% on unknown tenants, the first days of logins are rejected, by the API and the CLI."""
    step = Step(recovered.settings)
    t = Tables(step.settings)
    conf = tmp_path_factory.mktemp("strict_conf") / "conf"
    shutil.copytree(step.settings.conf_dir, conf)
    path = conf / "quality.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "action: quarantine, fail_above_percent: 20,", "action: quarantine, fail_above_percent: 0,"
        ),
        encoding="utf-8",
    )
    strict = step.settings.model_copy(update={"conf_dir": conf})
    step.seen["before"] = _versions(spark, t)
    with pytest.raises(QualityGateFailed) as err:
        ingest.run(spark, strict, until=FIRST_DAYS, quality=load_quality(strict))
    step.seen["error"] = err.value
    step.seen["after_api"] = _versions(spark, t)
    cli = CliRunner().invoke(
        main,
        [
            "--conf",
            str(conf),
            "--lakehouse",
            step.settings.pipeline.lakehouse_root,
            "--landing",
            generated.landing,
            "ingest",
            "--until",
            str(FIRST_DAYS),
        ],
    )
    step.seen["cli"] = cli
    step.seen["after_cli"] = _versions(spark, t)
    step.seen["manifest_rows"] = lake.read(spark, t.manifest).count()
    return step


@pytest.fixture(scope="module")
def resumed(spark, rejected) -> Step:
    """Step 3: the normal rules again; the rejected files and every later one land as one incremental batch."""
    step = Step(rejected.settings)
    step.seen["result"] = ingest.run(spark, step.settings)
    return step


def test_unreconciled_batch_stops_uncommitted_and_recover_rolls_it_back(spark, recovered, one_shot):
    s_one, _ = one_shot
    t = Tables(recovered.settings)
    assert re.search(r"feed roster: .*\(1 platforms lost or multiplied rows after bronze\)", recovered.seen["error"])
    assert recovered.seen["manifest_after_failure"] is False  # nothing was committed...
    assert recovered.seen["roster_rows_after_failure"] > 0  # ...though the roster was written before the check failed
    assert "rerun with --recover" in recovered.seen["blocked"]
    result = recovered.seen["result"]
    assert result.feeds["roster"].reconciled and result.feeds["logins"].files == 0
    _silver_equal(spark, t, Tables(s_one), feeds=("roster",))
    assert lake.read(spark, t.bronze("roster")).count() == lake.read(spark, Tables(s_one).bronze("roster")).count()
    assert recovered.seen["statuses"] == ["committed", "rolled_back", "started", "started"]


def test_a_breached_fail_rule_stops_the_batch_before_anything_downstream_is_written(spark, rejected, recovered):
    t = Tables(rejected.settings)
    err = rejected.seen["error"]
    message = str(err)
    assert re.search(
        r"rule unknown_tenant \(quarantine, gate at 0\.0%\) failed on table silver\.logins in batch \S+: "
        r"[\d,]+ of [\d,]+ rows",
        message,
    )
    assert "downstream tables were not written" in message
    assert rejected.seen["after_api"] == rejected.seen["before"]
    statuses = [r.status for r in lake.read(spark, t.batches).filter(F.col("batch_id") == err.batch_id).collect()]
    assert sorted(statuses) == ["rejected", "started"]
    breached = (
        lake.read(spark, t.quality_history)
        .filter((F.col("batch_id") == err.batch_id) & F.col("gate_breached"))
        .select("suite", "rule")
        .collect()
    )
    assert [(r.suite, r.rule) for r in breached] == [("silver.logins", "unknown_tenant")]
    # the CLI says the same and exits non-zero; still nothing downstream is written
    cli = rejected.seen["cli"]
    assert cli.exit_code == 1
    assert "rule unknown_tenant (quarantine, gate at 0.0%) failed on table silver.logins" in cli.output
    assert rejected.seen["after_cli"] == rejected.seen["before"]
    # the rejected files are still new: the file manifest holds only the first batch's
    assert rejected.seen["manifest_rows"] == recovered.seen["result"].files


def test_incremental_batch_after_a_rejection_equals_one_shot(spark, resumed, recovered, one_shot):
    s_one, _ = one_shot
    t = Tables(resumed.settings)
    result = resumed.seen["result"]
    assert result.batch_id and result.feeds["roster"].files == 0 and all(result.feeds[f].reconciled for f in FEED_NAMES)
    _silver_equal(spark, t, Tables(s_one))

    def quarantined(tables):
        return lake.read(spark, tables.quarantine).select("feed", "reason_code", "raw_record")

    assertDataFrameEqual(quarantined(t), quarantined(Tables(s_one)))
    assertDataFrameEqual(lake.read(spark, t.master), lake.read(spark, Tables(s_one).master))
    assert lake.read(spark, t.manifest).count() == lake.read(spark, Tables(s_one).manifest).count()
