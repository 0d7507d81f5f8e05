"""iiap classify: gold activity, effective enterprises and access ratios, tracked in MLflow.

Load (silver logs and the enterprise master, pinned at their current Delta versions) ->
process and save, table by table (daily activity, features, labels, counts: each gold
table validated by its suite's gates, written, and read back by the next step) -> report
(sensitivity, the comparison with the ground truth when given) -> one MLflow run.
The outputs are a function of the pinned versions, the rule set and the window only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from analytics import access, activity, labelling, tracking
from analytics.rule_sets import Classification, RuleSet, load_classification
from etl import lake
from etl.catalog import GOLD_TABLES, MissingInput, Tables, read_by
from etl.config import ObservationWindow, Settings
from quality.references import with_found_flags
from quality.runner import Outcome, QualityGateFailed, Validator
from quality.spec import QualitySpec, load_quality

__all__ = ["MissingInput", "run"]


@dataclass(frozen=True)
class ClassifyResult:
    run_id: str
    rule_set: str
    window: ObservationWindow
    input_versions: dict[str, int]
    output_versions: dict[str, int]
    connected: int
    effective: int
    counts: list[dict]
    sensitivity: list[dict]
    evaluation: dict | None
    quality: list[Outcome]
    quality_docs: str | None


INPUTS = tuple(t.id for t in read_by("classify"))  # silver logs and the enterprise master


@dataclass(frozen=True)
class Inputs:
    versions: dict[str, int]
    silver: dict[str, DataFrame]  # table id -> the snapshot at its pinned version
    truth: DataFrame | None


@dataclass(frozen=True)
class Gold:
    """The gold tables as written by this run, read back."""

    labels: DataFrame
    counts: list[dict]
    versions: dict[str, int]


@dataclass(frozen=True)
class Report:
    sensitivity: list[dict]
    evaluation: dict | None


def load_inputs(
    spark: SparkSession, settings: Settings, truth: str | None, pinned: dict[str, int] | None = None
) -> Inputs:
    """The silver inputs at their current versions, or at `pinned` ones (the versions an ingest stage of iiap run
    left)."""
    tables = Tables(settings)
    versions = tables.pin(spark, list(INPUTS)) | {k: v for k, v in (pinned or {}).items() if k in INPUTS}
    silver = {name: lake.read(spark, tables.path(name), versions[name]) for name in INPUTS}
    return Inputs(versions, silver, spark.read.parquet(f"{truth.rstrip('/')}/enterprises") if truth else None)


def _gold_stamp(run_id: str, window: ObservationWindow) -> list:
    """Lineage columns of every gold row: the MLflow run that wrote it and the window it covers."""
    return [
        F.lit(run_id).alias("run_id"),
        F.lit(window.start).alias("window_start"),
        F.lit(window.end).alias("window_end"),
    ]


class Publisher:
    """Validates each gold table against its suite's gates, writes it, and hands back the written table."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        validator: Validator,
        window: ObservationWindow,
        lookups: dict[str, DataFrame],
    ):
        self.spark, self.tables, self.validator = spark, Tables(settings), validator
        self.stamp, self.lookups = _gold_stamp(validator.batch_id, window), lookups

    def __call__(self, name: str, frame: DataFrame) -> DataFrame:
        table_id = f"gold.{name}"
        frame = frame.select("*", *self.stamp).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            rules = self.validator.spec.suite(table_id)
            if rules:
                self.validator.validate(table_id, with_found_flags(frame, rules, self.lookups), rules)
                if self.validator.breaches():
                    self.validator.record()
                    raise QualityGateFailed(self.validator.batch_id, self.validator.breaches())
            self.tables.write(frame, table_id)
        finally:
            frame.unpersist()
        return lake.read(self.spark, self.tables.gold(name))


def publish_gold(
    spark: SparkSession,
    settings: Settings,
    inputs: Inputs,
    rule_set: RuleSet,
    window: ObservationWindow,
    validator: Validator,
    progress,
) -> Gold:
    """Every gold table in order; a breached gate stops the run and leaves this table and the later ones as they
    were."""
    s = inputs.silver
    # exists_in rules read the pinned master snapshot
    publish = Publisher(spark, settings, validator, window, {"silver.enterprise_master": s["silver.enterprise_master"]})
    progress("daily activity (one pass over each silver log)")
    daily = publish(
        "activity_daily",
        activity.daily_activity(s["silver.logins"], s["silver.resource_usage"], s["silver.traffic"], window),
    )
    apps = publish("app_sessions_daily", activity.daily_app_sessions(s["silver.resource_usage"], window))
    progress("enterprise features")
    features = publish("activity_features", activity.activity_features(daily, apps))
    progress(f"labels under {rule_set.name}")
    enterprises = labelling.with_features(s["silver.enterprise_master"], features)
    labels = publish("enterprise_labels", labelling.label_enterprises(enterprises, rule_set))
    progress("counts and access ratios")
    counted = publish("access_counts", access.access_counts(labels).withColumn("rule_set", F.lit(rule_set.name)))
    counts = [r.asDict() for r in counted.select(*access.COUNT_COLUMNS).orderBy("dimension", "key").collect()]
    validator.record()
    tables = Tables(settings)
    return Gold(labels, counts, {name: lake.version(spark, tables.gold(name)) for name in GOLD_TABLES})


def report(gold: Gold, rule_set: RuleSet, spec: Classification, truth: DataFrame | None, progress) -> Report:
    progress("sensitivity of the effective count to each threshold")
    sensitivity = labelling.sensitivity(gold.labels, rule_set, spec.sensitivity_steps_percent)
    evaluation = None
    if truth is not None:
        progress("comparing labels with the ground truth")
        evaluation = access.confusion(gold.labels, truth)
    return Report(sensitivity, evaluation)


def _national(counts: list[dict]) -> dict:
    return next(c for c in counts if c["dimension"] == "national")


def run_params(
    settings: Settings, rule_set: RuleSet, window: ObservationWindow, inputs: Inputs, truth: str | None, revision: str
) -> dict:
    """What the run's outputs are a function of."""
    return {
        "rule_set": rule_set.name,
        "rule_set_fingerprint": rule_set.fingerprint(),
        "combine": rule_set.describe_combine(),
        **{f"threshold.{k}": v for k, v in rule_set.thresholds().items()},
        "window_start": str(window.start),
        "window_end": str(window.end),
        "window_timezone": window.timezone,
        **{f"input_version.{k}": v for k, v in inputs.versions.items()},
        "lakehouse": settings.lakehouse,
        "git_revision": revision,
        "truth": truth or "",
    }


def log_outputs(gold: Gold, rep: Report, rule_set: RuleSet, inputs: Inputs) -> None:
    """Metrics, output versions and artifacts of the active MLflow run."""
    import mlflow

    national = _national(gold.counts)
    metrics = {
        "connected": national["connected"],
        "effective": national["effective"],
        "access_ratio": national["access_ratio"] or 0.0,
    }
    if rep.evaluation:
        metrics |= {k: v for k, v in rep.evaluation.items() if v is not None}
    mlflow.log_metrics(metrics)
    mlflow.log_params({f"output_version.gold.{k}": v for k, v in gold.versions.items()})
    for dimension in access.DIMENSIONS:
        mlflow.log_text(
            tracking.to_csv([c for c in gold.counts if c["dimension"] == dimension]), f"counts/{dimension}.csv"
        )
    mlflow.log_text(tracking.to_csv(rep.sensitivity), "sensitivity.csv")
    mlflow.log_dict(rule_set.model_dump(), "rule_set.json")
    finished = datetime.now(UTC).isoformat()
    mlflow.log_text(
        json.dumps({"inputs": inputs.versions, "outputs": gold.versions, "finished_at": finished}, indent=2),
        "lineage.json",
    )


def run(
    spark: SparkSession,
    settings: Settings,
    spec: Classification | None = None,
    rule_set_name: str | None = None,
    truth: str | None = None,
    progress=lambda msg: None,
    quality: QualitySpec | None = None,
    pinned: dict[str, int] | None = None,
) -> ClassifyResult:
    import mlflow

    with Tables(settings).hold(spark, "classify", progress=progress):
        spec = spec or load_classification(settings)
        rule_set, window = spec.rule_set(rule_set_name), spec.window
        inputs = load_inputs(spark, settings, truth, pinned)
        quality = quality or load_quality(settings)
        experiment = tracking.experiment_id(settings, "classification")
        with tracking.started_run(settings, experiment, f"{rule_set.name} {window.start}..{window.end}") as active:
            revision = tracking.git_revision()
            mlflow.set_tags({"job": "iiap classify", "git_revision": revision, "profile": settings.profile_name})
            mlflow.log_params(run_params(settings, rule_set, window, inputs, truth, revision))
            # the gold suites' batch is the run
            validator = Validator.for_run(spark, settings, quality, active.info.run_id, "classify")
            gold = publish_gold(spark, settings, inputs, rule_set, window, validator, progress)
            rep = report(gold, rule_set, spec, inputs.truth, progress)
            log_outputs(gold, rep, rule_set, inputs)
    national = _national(gold.counts)
    return ClassifyResult(
        active.info.run_id,
        rule_set.name,
        window,
        inputs.versions,
        gold.versions,
        national["connected"],
        national["effective"],
        gold.counts,
        rep.sensitivity,
        rep.evaluation,
        validator.outcomes,
        validator.docs_index,
    )
