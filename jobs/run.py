"""iiap run: the day's batch as one command: ingest -> classify -> economy -> index release, in one Spark session.

Load (the lakehouse's last run, from ops/pipeline_runs, to resume it) -> process (each stage in turn under one
lakehouse lease, so no other job writes between them, each reading exactly what the stage before it left: the
silver versions the ingest committed, the gold versions the classification wrote, the economy run's tables) -> save
(a record per stage event in ops/pipeline_runs, and the run summary as JSON). A failure stops the run with an exit
code that says what kind of failure it was; the same command run again resumes at the stage that failed.
"""

from __future__ import annotations

import json
import secrets
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum
from pathlib import Path
from time import monotonic
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl import lake
from etl.catalog import MissingInput, Tables
from etl.config import Settings
from etl.lease import LakehouseBusy, LeaseLost
from etl.model import ConfigError

STAGES = ("ingest", "classify", "economy", "release")
RUN = "run"  # the stage name of the records about the run as a whole
STARTED, DONE, FAILED = "started", "done", "failed"
MLFLOW_RUN = "mlflow_run"  # the outputs key of a stage's MLflow run id


class ExitCode(IntEnum):
    """What a scheduler can act on (README, "iiap run")."""

    DONE = 0
    FAILED = 1  # an unexpected failure: a bug or the platform; the traceback is in the summary
    CONFIG = 2  # a configuration or usage error: conf/, the command line or the environment
    GATE = 3  # a data-quality gate stopped the batch (or the gold tables): nothing downstream was written
    BUSY = 4  # another job holds the lakehouse (an overlapping run was refused), or took this run's lease over
    BLOCKED = 5  # the lakehouse or its inputs need an operator: --recover, --rotate-key, a missing input


def exit_code(exc: BaseException) -> ExitCode:
    """The kind of a stage's failure, by the exception the stage raised."""
    from analytics.index.indicators import ExternalIndicatorError
    from analytics.index.inputs import IndexDataError
    from etl.pseudonym import KeyChanged, MissingKey
    from jobs.ingest import BadRetry, IncompleteBatch, ReconciliationError
    from quality.runner import QualityGateFailed

    kinds: tuple[tuple[tuple[type[BaseException], ...], ExitCode], ...] = (
        ((QualityGateFailed,), ExitCode.GATE),
        ((LakehouseBusy, LeaseLost), ExitCode.BUSY),
        ((ConfigError, ExternalIndicatorError, MissingKey, BadRetry), ExitCode.CONFIG),
        (
            (MissingInput, IncompleteBatch, KeyChanged, ReconciliationError, IndexDataError, FileNotFoundError),
            ExitCode.BLOCKED,
        ),
    )
    for types, code in kinds:
        if isinstance(exc, types):
            return code
    return ExitCode.FAILED


# --- the options and the plan -------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    first: str = STAGES[0]
    last: str = STAGES[-1]
    first_given: bool = False  # --from was given: start there, not where an unfinished run stopped
    fresh: bool = False  # do not resume an unfinished run
    until: date | None = None  # ingest: only deliveries up to this date
    recover: bool = False  # ingest: roll back a batch a crash left unfinished
    rotate_key: bool = False  # ingest: the pseudonymisation key deliberately changed
    rule_set: str | None = None  # classify
    truth: str | None = None  # classify: ground truth for precision and recall
    economy_config: Path | None = None
    release_config: Path | None = None

    def stages(self) -> tuple[str, ...]:
        for name in (self.first, self.last):
            if name not in STAGES:
                raise ValueError(f"unknown stage {name!r}: the stages are {', '.join(STAGES)}")
        first, last = STAGES.index(self.first), STAGES.index(self.last)
        if first > last:
            raise ValueError(f"--from {self.first} comes after --to {self.last} (stages: {', '.join(STAGES)})")
        return STAGES[first : last + 1]


@dataclass(frozen=True)
class Record:
    """One row of ops/pipeline_runs."""

    run_id: str
    attempt: int
    stage: str
    status: str
    at: datetime
    exit_code: int | None = None
    message: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    run_id: str
    attempt: int
    stages: tuple[str, ...]  # to run now, in order
    carried: dict[str, dict[str, str]]  # stage -> outputs, done by an earlier attempt of this run
    resumed: bool


def plan(records: list[Record], options: RunOptions, new_run_id: str) -> Plan:
    """Which stages to run: those asked for, less those an unfinished earlier run already did, which it then
    continues (same run id, next attempt). A finished last run, --from or --fresh start a new run."""
    wanted = options.stages()
    starts = [r for r in records if r.stage == RUN and r.status == STARTED]
    if starts and not options.first_given and not options.fresh:
        last = max(starts, key=lambda r: (r.at, r.attempt))
        mine = [r for r in records if r.run_id == last.run_id]
        if not any(r.stage == RUN and r.status == DONE for r in mine):
            done = {r.stage: r.outputs for r in sorted(mine, key=lambda r: r.at) if r.status == DONE}
            carried = {s: done[s] for s in wanted if s in done}
            todo = tuple(s for s in wanted if s not in done)
            return Plan(last.run_id, max(r.attempt for r in mine) + 1, todo, carried, True)
    return Plan(new_run_id, 1, wanted, {}, False)


def pins(outputs: dict[str, str]) -> dict[str, int]:
    """The Delta versions among a stage's outputs (keys that are table ids)."""
    return {k: int(v) for k, v in outputs.items() if "." in k}


# --- the summary ---------------------------------------------------------------------------------


@dataclass
class StageSummary:
    stage: str
    status: str  # done, failed, or carried (done by an earlier attempt)
    attempt: int
    seconds: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    run_id: str
    attempt: int
    resumed: bool
    started_at: str
    lakehouse: str
    landing: str
    profile: str
    stages_asked: list[str]
    status: str = "running"
    exit_code: int | None = None
    exit_kind: str | None = None
    finished_at: str | None = None
    stages: list[StageSummary] = field(default_factory=list)
    error: dict[str, str] | None = None
    summary_path: str | None = None
    spark: dict[str, str | None] = field(default_factory=dict)  # where the full record of the run is

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False, default=str)


def _outcomes(outcomes, docs: str | None) -> dict:
    found = [o for o in outcomes if o.unexpected_count or not o.success]
    return {
        "expectations": len(outcomes),
        "gates_breached": sum(o.gate_breached for o in outcomes),
        "found_something": [
            {
                "suite": o.suite,
                "rule": o.rule,
                "column": o.column,
                "action": o.action,
                "unexpected": o.unexpected_count,
                "percent": o.unexpected_percent,
            }
            for o in found
        ],
        "data_docs": docs,
    }


def describe_ingest(result) -> dict:
    return {
        "batch_id": result.batch_id,
        "files": result.files,
        "quarantined_files": result.quarantined_files,
        "resent": result.resent,
        "feeds": {
            feed: asdict(c) | {"duplicates": c.duplicates, "reconciled": c.reconciled}
            for feed, c in result.feeds.items()
        },
        "quality": _outcomes(result.quality, result.quality_docs),
    }


def describe_classify(result) -> dict:
    return {
        "mlflow_run": result.run_id,
        "rule_set": result.rule_set,
        "window": [str(result.window.start), str(result.window.end)],
        "connected": result.connected,
        "effective": result.effective,
        "input_versions": result.input_versions,
        "output_versions": result.output_versions,
        "evaluation": result.evaluation,
        "quality": _outcomes(result.quality, result.quality_docs),
    }


def describe_economy(result) -> dict:
    return {
        "mlflow_run": result.run_id,
        "years": list(result.years),
        "national": result.national,
        "identities_failed": sum(1 for c in result.comparison if c["kind"] == "identity" and not c["holds"]),
        "demo_inputs": result.demo,
    }


def describe_release(result) -> dict:
    return {
        "mlflow_run": result.run_id,
        "period": result.period,
        "input_versions": result.input_versions,
        "classification_run": result.classification.get("run_id"),
        "economy_run": (result.economy or {}).get("run_id"),
        "artifacts": result.artifact_uri,
        "top": {k: [[u, float(s)] for u, s in v] for k, v in result.top.items()},
        "notes": list(result.notes),
    }


# --- the stages ----------------------------------------------------------------------------------


@dataclass
class Context:
    """What the stages share: the session, settings, options, the validated configs, and what earlier stages left."""

    spark: SparkSession
    settings: Settings
    options: RunOptions
    quality: Any
    classification: Any
    outputs: dict[str, dict[str, str]]  # stage -> outputs, this attempt's and carried
    progress: Callable[[str], None]


def run_ingest(ctx: Context) -> tuple[Any, dict[str, str]]:
    from jobs import classify, ingest

    o = ctx.options
    result = ingest.run(ctx.spark, ctx.settings, o.until, o.recover, ctx.progress, ctx.quality, rotate_key=o.rotate_key)
    # under the run's lease nothing wrote since the commit: these are the versions the batch left (a feed that was
    # never delivered has no table: classify names it)
    tables = Tables(ctx.settings)
    versions = {t: lake.version(ctx.spark, tables.path(t)) for t in classify.INPUTS}
    batch = {"batch_id": result.batch_id} if result.batch_id else {}
    return result, batch | {k: str(v) for k, v in versions.items() if v is not None}


def run_classify(ctx: Context) -> tuple[Any, dict[str, str]]:
    from jobs import classify

    o = ctx.options
    truth = ctx.settings.path(o.truth) if o.truth else None
    result = classify.run(
        ctx.spark,
        ctx.settings,
        ctx.classification,
        o.rule_set,
        truth,
        ctx.progress,
        ctx.quality,
        pinned=pins(ctx.outputs.get("ingest", {})),
    )
    return result, {MLFLOW_RUN: result.run_id} | {f"gold.{k}": str(v) for k, v in result.output_versions.items()}


def run_economy(ctx: Context) -> tuple[Any, dict[str, str]]:
    from jobs import economy

    result = economy.run(ctx.spark, ctx.settings, ctx.options.economy_config, ctx.progress)
    return result, {MLFLOW_RUN: result.run_id} | {f"gold.{k}": str(v) for k, v in result.output_versions.items()}


def run_release(ctx: Context) -> tuple[Any, dict[str, str]]:
    from jobs import index_release

    economy_run = ctx.outputs.get("economy", {}).get(MLFLOW_RUN)
    result = index_release.run(
        ctx.spark,
        ctx.settings,
        ctx.options.release_config,
        ctx.progress,
        economy_run=economy_run,
        pinned=pins(ctx.outputs.get("classify", {})),
    )
    return result, {MLFLOW_RUN: result.run_id}


RUNNERS: dict[str, Callable[[Context], tuple[Any, dict[str, str]]]] = {
    "ingest": run_ingest,
    "classify": run_classify,
    "economy": run_economy,
    "release": run_release,
}
DESCRIBE: dict[str, Callable[[Any], dict]] = {
    "ingest": describe_ingest,
    "classify": describe_classify,
    "economy": describe_economy,
    "release": describe_release,
}


# --- load, validate, record ----------------------------------------------------------------------


@dataclass(frozen=True)
class Configs:
    quality: Any
    classification: Any


def validate(settings: Settings, options: RunOptions) -> Configs:
    """Every configuration the asked stages read, checked before Spark starts: ConfigError names file and key."""
    from analytics.rule_sets import load_classification
    from jobs import economy, index_release
    from quality.spec import load_quality, quality_context_root

    stages = options.stages()
    quality = load_quality(settings)
    quality_context_root(settings, quality)
    classification = None
    if "classify" in stages:
        classification = load_classification(settings)
        classification.rule_set(options.rule_set)
    if "economy" in stages:
        economy.load(settings, options.economy_config)
    if "release" in stages:
        index_release.load_release(Path(options.release_config or settings.conf_dir / index_release.RELEASE_FILE))
    if "ingest" in stages:
        from etl.pseudonym import key_from_env

        key_from_env(settings.pipeline.ingest.pseudonym_key_env)
    return Configs(quality, classification)


def load_records(spark: SparkSession, tables: Tables) -> list[Record]:
    """The records of the lakehouse's last run (all its attempts); none if it never ran."""
    path = tables.path("ops.pipeline_runs")
    if not lake.exists(spark, path):
        return []
    runs = lake.read(spark, path)
    last = runs.filter((F.col("stage") == RUN) & (F.col("status") == STARTED)).orderBy(F.col("at").desc()).limit(1)
    rows = runs.join(last.select("run_id"), on="run_id", how="inner").collect()
    return [Record(**{k: (dict(v) if k == "outputs" and v else v) for k, v in r.asDict().items()}) for r in rows]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Recorder:
    """Appends the run's stage events to ops/pipeline_runs (under the run's lease)."""

    def __init__(self, spark: SparkSession, tables: Tables, run_id: str, attempt: int):
        self.spark, self.tables, self.run_id, self.attempt = spark, tables, run_id, attempt

    def __call__(self, stage: str, status: str, code: int | None = None, message: str | None = None, outputs=None):
        row = (self.run_id, self.attempt, stage, status, _now(), code, message, dict(outputs or {}))
        self.tables.write(self.tables.rows(self.spark, "ops.pipeline_runs", [row]), "ops.pipeline_runs")


def summary_path(settings: Settings, run_id: str, attempt: int) -> str:
    """Where an attempt's summary goes: one file per attempt, beside the lakehouse's tables."""
    return f"{settings.lakehouse.rstrip('/')}/_runs/{run_id}/attempt-{attempt}.json"


def spark_record(spark: SparkSession) -> dict[str, str | None]:
    """The Spark application of the run, and where its event log goes (for the History Server) if the profile turns
    it on."""
    conf = spark.sparkContext.getConf()
    app_id = spark.sparkContext.applicationId
    logged = conf.get("spark.eventLog.enabled", "false").lower() == "true"
    log_dir = conf.get("spark.eventLog.dir", "file:/tmp/spark-events")
    return {
        "application_id": app_id,
        "master": spark.sparkContext.master,
        "ui": spark.sparkContext.uiWebUrl,
        "event_log_dir": log_dir if logged else None,
    }


def _fail(summary: RunSummary, stage: str, exc: BaseException) -> ExitCode:
    code = exit_code(exc)
    summary.error = {"stage": stage, "kind": code.name.lower(), "type": type(exc).__name__, "message": str(exc)}
    if code is ExitCode.FAILED:
        summary.error["traceback"] = "".join(traceback.format_exception(exc))
    return code


def _finish(spark: SparkSession, summary: RunSummary, code: ExitCode, extra_path: str | None) -> RunSummary:
    summary.status = "done" if code is ExitCode.DONE else "failed"
    summary.exit_code, summary.exit_kind = int(code), code.name.lower()
    summary.finished_at = _now().isoformat()
    text = summary.to_json()
    lake.write_text(spark, summary.summary_path, text)
    if extra_path:
        Path(extra_path).parent.mkdir(parents=True, exist_ok=True)
        Path(extra_path).write_text(text, encoding="utf-8")
    return summary


def run(
    spark: SparkSession,
    settings: Settings,
    options: RunOptions,
    configs: Configs,
    progress: Callable[[str], None] = lambda msg: None,
    on_stage: Callable[[str, Any], None] = lambda stage, result: None,
    summary_file: str | None = None,
) -> RunSummary:
    """Run the planned stages; the summary says how it ended (its exit code), whatever happened. A stage's failure
    is recorded and ends the run; a failure outside the stages (the lease refused) too."""
    tables = Tables(settings)
    new_id = f"{_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    summary = RunSummary(
        new_id,
        1,
        False,
        _now().isoformat(),
        settings.lakehouse,
        settings.landing,
        settings.profile_name,
        list(options.stages()),
    )
    summary.summary_path = summary_path(settings, new_id, 1)
    summary.spark = spark_record(spark)
    try:
        with tables.hold(spark, RUN, options.recover, progress) as lease:
            p = plan(load_records(spark, tables), options, new_id)
            summary.run_id, summary.attempt, summary.resumed = p.run_id, p.attempt, p.resumed
            summary.summary_path = summary_path(settings, p.run_id, p.attempt)
            record = Recorder(spark, tables, p.run_id, p.attempt)
            if p.resumed:
                done = ", ".join(p.carried) or "no stage"
                progress(f"resuming run {p.run_id} (attempt {p.attempt}): {done} done before")
            record(RUN, STARTED, outputs={"from": options.first, "to": options.last})
            for stage, outputs in p.carried.items():
                summary.stages.append(StageSummary(stage, "carried", p.attempt - 1, outputs=outputs))
            ctx = Context(spark, settings, options, configs.quality, configs.classification, dict(p.carried), progress)
            for stage in p.stages:
                progress(f"stage {stage}")
                record(stage, STARTED)
                start = monotonic()
                try:
                    result, outputs = RUNNERS[stage](ctx)
                except Exception as exc:
                    code = _fail(summary, stage, exc)
                    summary.stages.append(StageSummary(stage, FAILED, p.attempt, round(monotonic() - start, 1)))
                    if lease.lost is None:
                        record(stage, FAILED, int(code), str(exc)[:4000])
                        record(RUN, FAILED, int(code), f"{stage}: {str(exc)[:4000]}")
                    return _finish(spark, summary, code, summary_file)
                ctx.outputs[stage] = outputs
                record(stage, DONE, outputs=outputs)
                summary.stages.append(
                    StageSummary(
                        stage, DONE, p.attempt, round(monotonic() - start, 1), outputs, DESCRIBE[stage](result)
                    )
                )
                on_stage(stage, result)
            record(RUN, DONE)
    except (LakehouseBusy, LeaseLost) as exc:  # the run's own lease: refused, or lost outside a stage
        return _finish(spark, summary, _fail(summary, RUN, exc), summary_file)
    return _finish(spark, summary, ExitCode.DONE, summary_file)
