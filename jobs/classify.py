"""iiap classify: gold activity, effective enterprises and access ratios, tracked in MLflow.

Load inputs (silver logs and the enterprise master, pinned at their current Delta
versions) -> process (daily activity, features, labels, counts, sensitivity, and the
comparison with the ground truth when given) -> save (gold Delta tables, one MLflow run).
The outputs are a function of the pinned versions, the rule set and the window only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from analytics import access, activity, classification, tracking
from analytics.rules import Classification, load_classification
from etl import lake
from etl.config import LOG_FEEDS, Settings, Window
from etl.tables import GOLD_TABLES, Tables
from quality.references import with_found_flags
from quality.context import RuleContext
from quality.runner import Outcome, QualityGateFailed, Validator
from quality.spec import QualitySpec, load_quality, quality_context_root


class MissingInput(LookupError):
    """An input table of classification does not exist yet."""


@dataclass(frozen=True)
class ClassifyResult:
    run_id: str
    rule_set: str
    window: Window
    input_versions: dict[str, int]
    output_versions: dict[str, int]
    connected: int
    effective: int
    counts: list[dict]
    sensitivity: list[dict]
    evaluation: dict | None
    quality: list[Outcome]
    quality_docs: str | None


def input_paths(tables: Tables) -> dict[str, str]:
    return {f"silver.{feed}": tables.silver(feed) for feed in LOG_FEEDS} | {"silver.enterprise_master": tables.master}


def input_versions(spark: SparkSession, tables: Tables) -> dict[str, int]:
    """The Delta version of every input, read once: the run reads exactly these snapshots."""
    paths = input_paths(tables)
    versions = {}
    for name, path in paths.items():
        v = lake.version(spark, path)
        if v is None:
            raise MissingInput(f"{name} ({path}) does not exist: run iiap ingest first")
        versions[name] = v
    return versions


def _gold_stamp(run_id: str, window: Window) -> list:
    """Lineage columns of every gold row: the MLflow run that wrote it and the window it covers."""
    return [F.lit(run_id).alias("run_id"), F.lit(window.start).alias("window_start"), F.lit(window.end).alias("window_end")]


def run(
    spark: SparkSession,
    settings: Settings,
    spec: Classification | None = None,
    rule_set_name: str | None = None,
    truth: str | None = None,
    progress=lambda msg: None,
    quality: QualitySpec | None = None,
) -> ClassifyResult:
    import mlflow

    spec = spec or load_classification(settings)
    rule_set = spec.rule_set(rule_set_name)
    window = spec.window
    t = Tables(settings)

    # --- load inputs ---------------------------------------------------------------------------
    versions = input_versions(spark, t)
    silver = {name: lake.read(spark, path, versions[name]) for name, path in input_paths(t).items()}
    truth_frame = spark.read.parquet(f"{truth.rstrip('/')}/enterprises") if truth else None

    quality = quality or load_quality(settings)
    rule_ctx = RuleContext.from_settings(settings)
    experiment = tracking.experiment_id(settings, "classification")
    with mlflow.start_run(experiment_id=experiment, run_name=f"{rule_set.name} {window.start}..{window.end}") as active:
        run_id = active.info.run_id
        # the gold suites' batch is the run
        validator = Validator(spark, quality, rule_ctx, quality_context_root(settings, quality), t.quality_history, run_id, "classify")
        revision = tracking.git_revision()
        mlflow.set_tags({"job": "iiap classify", "git_revision": revision, "profile": settings.profile_name})
        mlflow.log_params(
            {
                "rule_set": rule_set.name,
                "rule_set_fingerprint": rule_set.fingerprint(),
                "combine": rule_set.describe_combine(),
                **{f"threshold.{k}": v for k, v in rule_set.thresholds().items()},
                "window_start": str(window.start),
                "window_end": str(window.end),
                "window_timezone": window.timezone,
                **{f"input_version.{k}": v for k, v in versions.items()},
                "lakehouse": settings.lakehouse,
                "git_revision": revision,
                "truth": truth or "",
            }
        )

        # --- process + save: each gold table is validated (its suite's gates), written, then read back by the next step
        stamp = _gold_stamp(run_id, window)
        lookups = {"silver.enterprise_master": silver["silver.enterprise_master"]}  # for exists_in rules: the pinned snapshot

        def publish(name: str, frame: DataFrame, partition_by: tuple[str, ...] = ()) -> DataFrame:
            frame = frame.select("*", *stamp).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                rules = quality.suite(f"gold.{name}")
                if rules:
                    validator.validate(f"gold.{name}", with_found_flags(frame, rules, lookups), rules)
                    if validator.breaches():
                        validator.record()
                        raise QualityGateFailed(run_id, validator.breaches())
                lake.overwrite(frame, t.gold(name), partition_by=partition_by)
            finally:
                frame.unpersist()
            return lake.read(spark, t.gold(name))

        progress("daily activity (one pass over each silver log)")
        daily = publish("activity_daily", activity.daily_activity(silver["silver.logins"], silver["silver.resource_usage"], silver["silver.traffic"], window), ("activity_date",))
        apps = publish("app_sessions_daily", activity.daily_app_sessions(silver["silver.resource_usage"], window), ("activity_date",))
        progress("enterprise features")
        features = publish("activity_features", activity.activity_features(daily, apps))
        progress(f"labels under {rule_set.name}")
        labels = publish("enterprise_labels", classification.classify(classification.with_features(silver["silver.enterprise_master"], features), rule_set))
        progress("counts and access ratios")
        counted = publish("access_counts", access.access_counts(labels).withColumn("rule_set", F.lit(rule_set.name)))
        counts = [r.asDict() for r in counted.select(*access.COUNT_COLUMNS).orderBy("dimension", "key").collect()]
        validator.record()

        progress("sensitivity of the effective count to each threshold")
        sens = classification.sensitivity(labels, rule_set, spec.sensitivity_steps_percent)
        evaluation = None
        if truth_frame is not None:
            progress("comparing labels with the ground truth")
            evaluation = access.confusion(labels, truth_frame)

        outputs = {name: lake.version(spark, t.gold(name)) for name in GOLD_TABLES}
        national = next(c for c in counts if c["dimension"] == "national")
        metrics = {"connected": national["connected"], "effective": national["effective"], "access_ratio": national["access_ratio"] or 0.0}
        if evaluation:
            metrics |= {k: v for k, v in evaluation.items() if v is not None}
        mlflow.log_metrics(metrics)
        mlflow.log_params({f"output_version.gold.{k}": v for k, v in outputs.items()})
        for dimension in access.DIMENSIONS:
            mlflow.log_text(tracking.to_csv([c for c in counts if c["dimension"] == dimension]), f"counts/{dimension}.csv")
        mlflow.log_text(tracking.to_csv(sens), "sensitivity.csv")
        mlflow.log_dict(rule_set.model_dump(), "rule_set.json")
        mlflow.log_text(
            json.dumps({"inputs": versions, "outputs": outputs, "finished_at": datetime.now(timezone.utc).isoformat()}, indent=2), "lineage.json"
        )

    return ClassifyResult(
        run_id=run_id,
        rule_set=rule_set.name,
        window=window,
        input_versions=versions,
        output_versions=outputs,
        connected=national["connected"],
        effective=national["effective"],
        counts=counts,
        sensitivity=sens,
        evaluation=evaluation,
        quality=validator.outcomes,
        quality_docs=validator.docs_index,
    )

