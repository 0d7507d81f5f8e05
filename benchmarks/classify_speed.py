"""Benchmark: feature building and classification in Spark against DuckDB, side by side (on demand).

    .venv/bin/python benchmarks/classify_speed.py --scales 0.01 0.1

For each scale: generate a feed (or reuse one with --work), ingest it (GE validation
stubbed out: the silver tables are the same, and this benchmark is not about ingest),
then time, on the same silver snapshots,
  - Spark: daily activity + app sessions + features written to Delta (feature building),
    then labels written to Delta (classification), exactly as `iiap classify` does;
  - DuckDB: the same job written directly in SQL over the Parquet files of those Delta
    snapshots (the files the Delta log lists), the single-machine reference.
Reports silver rows per second per core for each, and checks that both give every
enterprise the same label.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb

from analytics import access, activity, labelling
from analytics.rule_sets import RuleSet, load_classification, parse_expression
from etl import lake
from etl.catalog import Tables
from etl.config import LOG_FEEDS, load_generator, load_settings
from etl.spark import build_session
from jobs import generate, ingest
from quality import runner


def _sql_signals(rule_set: RuleSet) -> dict[str, str]:
    return {
        n: " AND ".join(f"{f} >= {float(v)!r}" for f, v in s.thresholds.items()) for n, s in rule_set.signals.items()
    }


def _sql_effective(rule_set: RuleSet) -> str:
    signals = {n: f"({c})" for n, c in _sql_signals(rule_set).items()}
    if rule_set.combine.k_of is not None:
        return "(" + " + ".join(f"CAST({c} AS INTEGER)" for c in signals.values()) + f") >= {rule_set.combine.k_of}"

    def fold(node) -> str:
        if node[0] == "signal":
            return signals[node[1]]
        if node[0] == "not":
            return f"(NOT {fold(node[1])})"
        return f"({fold(node[1])} {node[0].upper()} {fold(node[2])})"

    return fold(parse_expression(rule_set.combine.expression))


def duckdb_labels(con: duckdb.DuckDBPyConnection, files: dict[str, list[str]], window, rule_set: RuleSet) -> None:
    """The classification job in DuckDB SQL; leaves table `labels` (credit_code, effective)."""
    con.execute("SET TimeZone = 'UTC'")

    def src(name: str) -> str:
        listed = ", ".join(f"'{f}'" for f in files[name])
        return f"read_parquet([{listed}], hive_partitioning = true)"

    start, end, tz = window.start_utc(), window.end_utc(), window.timezone
    in_window = f"event_ts >= TIMESTAMP '{start}' AND event_ts < TIMESTAMP '{end}'"
    local = f"CAST(timezone('{tz}', CAST(event_ts AS TIMESTAMP) AT TIME ZONE 'UTC') AS DATE)"
    key = "credit_code, platform_id, d"
    con.execute(f"""
        CREATE OR REPLACE TABLE daily AS
        WITH l AS (SELECT credit_code, platform_id, {local} AS d, count(*) AS logins, count(DISTINCT user_key) AS users
                   FROM {src("logins")} WHERE {in_window} GROUP BY ALL),
             u AS (SELECT credit_code, platform_id, {local} AS d,
                          sum(quantity) FILTER (WHERE resource_kind = 'compute') AS compute,
                          sum(quantity) FILTER (WHERE resource_kind = 'storage') AS storage,
                          sum(quantity) FILTER (WHERE resource_kind = 'app_session') AS sessions
                   FROM {src("resource_usage")} WHERE {in_window} GROUP BY ALL),
             t AS (SELECT credit_code, platform_id, {local} AS d,
                          sum(bytes_in) AS bytes_in, sum(bytes_out) AS bytes_out, sum(requests) AS requests
                   FROM {src("traffic")} WHERE {in_window} GROUP BY ALL)
        SELECT {key}, coalesce(logins, 0) AS logins, coalesce(users, 0) AS users, coalesce(compute, 0) AS compute,
               coalesce(storage, 0) AS storage, coalesce(sessions, 0) AS sessions,
               coalesce(bytes_in, 0) AS bytes_in, coalesce(bytes_out, 0) AS bytes_out, coalesce(requests, 0) AS requests
        FROM l FULL JOIN u USING ({key}) FULL JOIN t USING ({key})
    """)
    con.execute("""
        CREATE OR REPLACE TABLE features AS
        SELECT credit_code,
               count(DISTINCT d) FILTER (WHERE logins > 0) AS login_days,
               count(DISTINCT d) FILTER (WHERE compute > 0 OR storage > 0 OR sessions > 0) AS usage_days,
               sum(compute) AS compute_core_hours,
               count(DISTINCT d) FILTER (WHERE bytes_in + bytes_out > 0 OR requests > 0) AS traffic_days,
               sum(bytes_in + bytes_out) AS traffic_bytes,
               count(DISTINCT d) AS active_days, sum(logins) AS logins, sum(users) AS user_days,
               max(users) AS peak_daily_users,
               max(storage) AS peak_storage_bytes, sum(sessions) AS app_sessions, sum(requests) AS requests
        FROM daily GROUP BY credit_code
    """)
    used = {f for s in rule_set.signals.values() for f in s.thresholds}
    filled = ", ".join(f"coalesce(f.{c}, 0) AS {c}" for c in sorted(used))
    con.execute(f"""
        CREATE OR REPLACE TABLE labels AS
        SELECT credit_code, {_sql_effective(rule_set)} AS effective
        FROM (SELECT m.credit_code, {filled} FROM {src("enterprise_master")} m LEFT JOIN features f USING (credit_code))
    """)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_scale(spark, base, spec, scale: float, seed: int, work: Path) -> dict:
    feed, lakehouse = work / f"feed-{scale}", work / f"lake-{scale}"
    settings = base.model_copy(
        update={
            "pipeline": base.pipeline.model_copy(
                update={"lakehouse_root": str(lakehouse), "landing_root": str(feed / "landing")}
            )
        }
    )
    t = Tables(settings)
    if not (feed / "truth" / "manifest.json").exists():
        print(f"[{scale}] generating", flush=True)
        generate.run(spark, base, load_generator(), scale, seed, str(feed))
    if not lake.exists(spark, t.master):
        print(f"[{scale}] ingesting (validation stubbed)", flush=True)
        real = runner.Validator.validate
        runner.Validator.validate = lambda self, *a, **k: []
        try:
            ingest.run(spark, settings)
        finally:
            runner.Validator.validate = real
    window, rule_set = spec.window, spec.rule_set(None)
    inputs = {f: lake.read(spark, t.silver(f)) for f in LOG_FEEDS}
    master = lake.read(spark, t.master)
    rows = sum(inputs[f].transform(activity.in_window, window).count() for f in LOG_FEEDS)
    scratch = work / f"gold-{scale}"
    cores = os.cpu_count() or 1  # the machine's cores: local[*] runs one task per core, DuckDB one thread per core

    print(f"[{scale}] Spark: {rows:,} silver rows in the window", flush=True)

    def spark_features():
        lake.overwrite(
            activity.daily_activity(inputs["logins"], inputs["resource_usage"], inputs["traffic"], window),
            f"{scratch}/daily",
            partition_by=("activity_date",),
        )
        lake.overwrite(
            activity.daily_app_sessions(inputs["resource_usage"], window),
            f"{scratch}/apps",
            partition_by=("activity_date",),
        )
        lake.overwrite(
            activity.activity_features(lake.read(spark, f"{scratch}/daily"), lake.read(spark, f"{scratch}/apps")),
            f"{scratch}/features",
        )

    def spark_classify():
        enterprises = labelling.with_features(master, lake.read(spark, f"{scratch}/features"))
        lake.overwrite(labelling.label_enterprises(enterprises, rule_set), f"{scratch}/labels")

    spark_features_s = _timed(spark_features)
    spark_classify_s = _timed(spark_classify)

    print(f"[{scale}] DuckDB", flush=True)
    files = {f: inputs[f].inputFiles() for f in LOG_FEEDS} | {"enterprise_master": master.inputFiles()}
    files = {k: [v.removeprefix("file://") for v in vs] for k, vs in files.items()}
    con = duckdb.connect()
    con.execute(f"SET threads = {cores}")
    duck_s = _timed(lambda: duckdb_labels(con, files, window, rule_set))
    spark_labels = lake.read(spark, f"{scratch}/labels").select("credit_code", "effective").toPandas()
    duck = con.execute("SELECT credit_code, effective FROM labels").df()
    merged = spark_labels.merge(duck, on="credit_code", how="outer", suffixes=("_spark", "_duckdb"), indicator=True)
    disagree = int(((merged["_merge"] != "both") | (merged["effective_spark"] != merged["effective_duckdb"])).sum())
    spark_total = spark_features_s + spark_classify_s
    truth = access.confusion(
        lake.read(spark, f"{scratch}/labels"), spark.read.parquet(str(feed / "truth" / "enterprises"))
    )
    return {
        "scale": scale,
        "silver_rows_in_window": rows,
        "enterprises": len(spark_labels),
        "effective": int(spark_labels["effective"].sum()),
        "cores": cores,
        "spark_feature_building_s": round(spark_features_s, 2),
        "spark_classification_s": round(spark_classify_s, 2),
        "spark_rows_per_s_per_core": round(rows / spark_total / cores),
        "duckdb_s": round(duck_s, 2),
        "duckdb_rows_per_s_per_core": round(rows / duck_s / cores),
        "duckdb_speedup": round(spark_total / duck_s, 2),
        "labels_disagreeing": disagree,
        "precision": truth["precision"],
        "recall": truth["recall"],
        "false_positive": truth["false_positive"],
        "false_negative": truth["false_negative"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", default=None, help="Keep feeds and lakehouses here and reuse them on the next run.")
    args = parser.parse_args()
    os.environ.setdefault("IIAP_PSEUDONYM_KEY", "benchmark-only-key-0123456789")
    base = load_settings()
    spec = load_classification(base)
    spark = build_session(base, "iiap-benchmark-classify")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="iiap-bench-classify-"))
    work.mkdir(parents=True, exist_ok=True)
    reports = [bench_scale(spark, base, spec, s, args.seed, work) for s in args.scales]
    for r in reports:
        print(
            f"scale {r['scale']}: {r['enterprises']:,} enterprises, {r['effective']:,} effective; "
            f"against the truth precision {r['precision']:.4f}, recall {r['recall']:.4f}"
        )
    print(
        f"{'scale':>6} {'rows':>12} {'spark feat s':>12} {'spark cls s':>11} {'spark r/s/core':>14} {'duckdb s':>9} "
        f"{'duck r/s/core':>13} {'duck x':>7} {'disagree':>8}"
    )
    for r in reports:
        print(
            f"{r['scale']:>6} {r['silver_rows_in_window']:>12,} {r['spark_feature_building_s']:>12} "
            f"{r['spark_classification_s']:>11} "
            f"{r['spark_rows_per_s_per_core']:>14,} {r['duckdb_s']:>9} {r['duckdb_rows_per_s_per_core']:>13,} "
            f"{r['duckdb_speedup']:>7} {r['labels_disagreeing']:>8}"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"classify-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(reports, indent=2))
    if any(r["labels_disagreeing"] for r in reports):
        raise SystemExit("Spark and DuckDB disagree on some labels")


if __name__ == "__main__":
    main()
