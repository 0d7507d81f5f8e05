"""iiap run without Spark: which stages a run takes on (a rerun resumes where the last run stopped), and the exit code
each kind of failure gets."""

from datetime import datetime, timedelta

import pytest

from analytics.index.inputs import IndexDataError
from etl.catalog import MissingInput, UnfinishedBatch
from etl.lease import LakehouseBusy, LeaseLost
from etl.model import ConfigError
from etl.pseudonym import KeyChanged, MissingKey
from jobs.ingest import IncompleteBatch, ReconciliationError
from jobs.run import ExitCode, Record, RunOptions, exit_code, pins, plan
from quality.runner import QualityGateFailed

T0 = datetime(2026, 12, 1, 2, 0)
INGESTED = {"batch_id": "B1", "silver.logins": "4", "silver.enterprise_master": "2"}


def _records(run_id: str, events: list[tuple], attempt: int = 1, start: datetime = T0) -> list[Record]:
    """(stage, status[, outputs]) in order, a minute apart."""
    return [
        Record(run_id, attempt, e[0], e[1], start + timedelta(minutes=i), outputs=e[2] if len(e) > 2 else {})
        for i, e in enumerate(events)
    ]


FAILED_AT_CLASSIFY = _records(
    "R1",
    [
        ("run", "started"),
        ("ingest", "started"),
        ("ingest", "done", INGESTED),
        ("classify", "started"),
        ("classify", "failed"),
        ("run", "failed"),
    ],
)


def test_a_first_run_takes_on_every_stage_asked():
    p = plan([], RunOptions(), "NEW")
    assert (p.run_id, p.attempt, p.stages, p.carried, p.resumed) == (
        "NEW",
        1,
        ("ingest", "classify", "economy", "release"),
        {},
        False,
    )
    p = plan([], RunOptions(first="classify", last="economy", first_given=True), "NEW")
    assert p.stages == ("classify", "economy")


def test_a_rerun_after_a_failure_resumes_at_the_failed_stage_with_the_earlier_outputs():
    p = plan(FAILED_AT_CLASSIFY, RunOptions(), "NEW")
    assert (p.run_id, p.attempt, p.stages, p.carried, p.resumed) == (
        "R1",
        2,
        ("classify", "economy", "release"),
        {"ingest": INGESTED},
        True,
    )


def test_a_run_killed_mid_stage_resumes_at_that_stage():
    killed = FAILED_AT_CLASSIFY[:4]  # classify started, no end: the process died
    p = plan(killed, RunOptions(), "NEW")
    assert (p.run_id, p.attempt, p.stages) == ("R1", 2, ("classify", "economy", "release"))


def test_a_second_failure_resumes_after_the_stages_both_attempts_did():
    classified = {"mlflow_run": "abc", "gold.enterprise_labels": "7"}
    second = _records(
        "R1",
        [
            ("run", "started"),
            ("classify", "started"),
            ("classify", "done", classified),
            ("economy", "started"),
            ("economy", "failed"),
            ("run", "failed"),
        ],
        attempt=2,
        start=T0 + timedelta(hours=1),
    )
    p = plan(FAILED_AT_CLASSIFY + second, RunOptions(), "NEW")
    assert (p.run_id, p.attempt, p.stages, p.carried) == (
        "R1",
        3,
        ("economy", "release"),
        {"ingest": INGESTED, "classify": classified},
    )


def test_a_finished_run_from_or_fresh_start_a_new_run():
    done = _records("R0", [("run", "started"), ("ingest", "done", INGESTED), ("run", "done")])
    p = plan(done, RunOptions(), "NEW")
    assert (p.run_id, p.attempt, p.stages, p.resumed) == ("NEW", 1, ("ingest", "classify", "economy", "release"), False)
    for options in (RunOptions(fresh=True), RunOptions(first="ingest", first_given=True)):
        p = plan(FAILED_AT_CLASSIFY, options, "NEW")
        assert (p.run_id, p.attempt, p.stages, p.carried) == (
            "NEW",
            1,
            ("ingest", "classify", "economy", "release"),
            {},
        )


def test_a_resumed_run_takes_on_only_the_stages_asked_now():
    p = plan(FAILED_AT_CLASSIFY, RunOptions(last="classify"), "NEW")
    assert (p.run_id, p.stages, p.carried) == ("R1", ("classify",), {"ingest": INGESTED})


def test_stages_out_of_order_or_unknown_are_refused():
    with pytest.raises(ValueError, match=r"^--from release comes after --to ingest \(stages: ingest, classify, "):
        RunOptions(first="release", last="ingest").stages()
    with pytest.raises(
        ValueError, match=r"^unknown stage 'quality': the stages are ingest, classify, economy, release"
    ):
        RunOptions(first="quality").stages()


def test_pins_are_the_table_versions_among_a_stages_outputs():
    assert pins(INGESTED) == {"silver.logins": 4, "silver.enterprise_master": 2}
    assert pins({"mlflow_run": "abc"}) == {}


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (QualityGateFailed("B1", []), ExitCode.GATE),
        (LakehouseBusy("another job"), ExitCode.BUSY),
        (LeaseLost("taken over"), ExitCode.BUSY),
        (ConfigError("conf/x.yaml: key"), ExitCode.CONFIG),
        (MissingKey("IIAP_PSEUDONYM_KEY"), ExitCode.CONFIG),
        (MissingInput("silver.logins"), ExitCode.BLOCKED),
        (UnfinishedBatch("batch B0"), ExitCode.BLOCKED),
        (IncompleteBatch("batch B0"), ExitCode.BLOCKED),
        (KeyChanged("key"), ExitCode.BLOCKED),
        (ReconciliationError("rows"), ExitCode.BLOCKED),
        (IndexDataError("units"), ExitCode.BLOCKED),
        (RuntimeError("boom"), ExitCode.FAILED),
        (KeyError("x"), ExitCode.FAILED),
    ],
)
def test_each_kind_of_failure_has_its_exit_code(exc, code):
    assert exit_code(exc) is code


def test_the_exit_codes_a_scheduler_reads():
    assert {c.name: int(c) for c in ExitCode} == {
        "DONE": 0,
        "FAILED": 1,
        "CONFIG": 2,
        "GATE": 3,
        "BUSY": 4,
        "BLOCKED": 5,
    }
