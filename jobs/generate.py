"""iiap generate: write what the 34 platforms would deliver, plus the ground truth.

Load inputs (conf, reference data) -> process (enterprises, activity, faults, dialects)
-> save (landing files per platform contract, truth manifest and enterprise labels).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import reference
from etl.config import FEED_NAMES, LOG_FEEDS, Generator, Settings
from etl.synthetic import activity, dialects, faults, landing, population
from etl.textio import write_lines

# The generator's Spark output is staging that is moved into the landing layout at once:
# Hadoop's checksum sidecar files and dynamic partition overwrite only add per-file cost.
SESSION_CONF = {
    "spark.sql.sources.partitionOverwriteMode": "static",
    "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
    "spark.hadoop.fs.file.impl.disable.cache": "true",
}


@dataclass(frozen=True)
class GenerateResult:
    landing: str
    truth: str
    files: int
    manifest: dict


def _with_log_keys(rows: DataFrame, prefixes: dict[str, str], weekly: list[str]) -> DataFrame:
    """Tenant ids, and the delivery date: the next day, or the Monday after the week for weekly platforms."""
    delivery = F.when(F.col("platform_id").isin(weekly), F.next_day("local_date", "Mon")).otherwise(F.date_add("local_date", 1))
    return rows.withColumn("tenant_id", population.tenant_id_of(prefixes)).withColumn("delivery_date", delivery)


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(DataFrame.unionByName, frames)


def _deliveries(rows: dict[str, DataFrame]) -> list[faults.Delivery]:
    union = _union([rows[feed].select("platform_id", F.lit(feed).alias("feed"), F.col("delivery_date").cast("string").alias("delivery_date")) for feed in LOG_FEEDS])
    return [faults.Delivery(r.platform_id, r.feed, r.delivery_date) for r in union.distinct().collect()]


def run(spark: SparkSession, settings: Settings, gen: Generator, scale: float, seed: int, out: str, progress=lambda msg: None) -> GenerateResult:
    # --- load inputs ---------------------------------------------------------------------------
    ref = settings.reference_dir
    provinces = {r["province_code"]: r["name_zh"] for r in reference.rows(ref, "provinces")}
    sections_zh = {r["section_code"]: r["name_zh"] for r in reference.rows(ref, "sections")}
    subs_zh = {r["sub_industry_id"]: r["name_zh"] for r in reference.rows(ref, "sub_industries")}
    apps = reference.rows(ref, "apps")
    general_apps = [a["app_id"] for a in apps if a["kind"] == "general"]
    specialised: dict[str, list[str]] = {}
    for a in apps:
        if a["kind"] == "specialised":
            specialised.setdefault(a["sub_industry_id"], []).append(a["app_id"])
    contracts = settings.contracts
    prefixes = {p: c.tenant_id_prefix for p, c in contracts.items()}
    text_platforms = {p for p, c in contracts.items() if c.format != "parquet"}
    weekly = sorted(p for p, c in contracts.items() if c.delivery_cadence == "weekly")
    window = settings.pipeline.window
    limits = settings.pipeline.limits.model_dump()
    resource_limits = {k: limits[rk.limit] for k, rk in settings.feeds.resource_kinds.items()}
    unknown = set(gen.platform_weights) ^ set(contracts)
    if unknown:
        raise ValueError(f"generator platform_weights and conf/contracts disagree on platforms: {sorted(unknown)}")

    # --- process -------------------------------------------------------------------------------
    progress("enterprises and memberships")
    ents = population.enterprises(spark, gen, provinces, scale, seed).persist(StorageLevel.MEMORY_AND_DISK)
    members = population.memberships(ents, gen, prefixes, seed, window.start - timedelta(days=2))
    days = activity.enterprise_days(ents, gen, window, seed)
    propensity = population.specialised_propensity(gen)
    canonical = {
        "roster": activity.roster(members, window),
        "logins": _with_log_keys(activity.logins(days, gen, gen.channels, seed), prefixes, weekly).withColumn("user_id", F.concat_ws("-", "tenant_id", "user_suffix")),
        "resource_usage": _with_log_keys(activity.resource_usage(days, gen, general_apps, specialised, propensity, seed), prefixes, weekly),
        "traffic": _with_log_keys(activity.traffic(days, gen, seed), prefixes, weekly),
    }
    canonical = {feed: df.localCheckpoint(eager=True) for feed, df in canonical.items()}
    progress("choosing redelivered and drifted files")
    file_faults = faults.choose_file_faults(
        _deliveries(canonical), text_platforms, (gen.faults.redelivered_files, gen.faults.renamed_column_files, gen.faults.extra_column_files), seed
    )
    rows: dict[str, DataFrame] = {}
    for feed in FEED_NAMES:
        labelled = faults.assign(canonical[feed], feed, gen.faults.rows, text_platforms, file_faults, seed)
        labelled = faults.apply_values(labelled, feed, limits, resource_limits)
        if feed == "roster":
            labelled = labelled.unionByName(faults.invalid_code_tenants(canonical["roster"], gen.faults.invalid_credit_code_rate, seed))
        rows[feed] = faults.expand_copies(labelled, file_faults, feed).localCheckpoint(eager=True)

    drift_by_feed = {
        feed: {p: {k for k, ds in (("rename", file_faults.rename), ("extra", file_faults.extra)) for d in ds if d.feed == feed and d.platform_id == p} for p in contracts}
        for feed in FEED_NAMES
    }
    def lines_of(platform_ids: list[str]) -> DataFrame:
        """Every delivered line (CSV headers included) of these text-format platforms."""
        lines = None
        for feed in FEED_NAMES:
            renderers = {p: dialects.Renderer(settings.feeds, contracts[p], feed, sections_zh, subs_zh) for p in platform_ids}
            feed_rows = rows[feed].filter(F.col("platform_id").isin(platform_ids))
            data = feed_rows.select(
                "platform_id",
                F.lit(feed).alias("feed"),
                F.col("delivery_date").cast("string").alias("delivery_date"),
                "part",
                F.lit(1).alias("ord"),
                "rid",
                "copy",
                dialects.render_text(renderers, drift_by_feed[feed]).alias("line"),
            )
            lines = data if lines is None else lines.unionByName(data)
            csv_ids = [p for p in platform_ids if contracts[p].format == "csv"]
            if not csv_ids:
                continue
            header_expr = None
            for p in csv_ids:
                h = F.lit(renderers[p].header())
                for kind in drift_by_feed[feed][p]:
                    h = F.when(F.col("drift") == kind, F.lit(renderers[p].header(kind))).otherwise(h)
                header_expr = F.when(F.col("platform_id") == p, h) if header_expr is None else header_expr.when(F.col("platform_id") == p, h)
            headers = (
                feed_rows.filter(F.col("platform_id").isin(csv_ids))
                .select("platform_id", F.col("delivery_date").cast("string").alias("delivery_date"), "part", "drift")
                .distinct()
                .select("platform_id", F.lit(feed).alias("feed"), "delivery_date", "part", F.lit(0).alias("ord"), F.lit(0).cast("long").alias("rid"), F.lit(0).alias("copy"), header_expr.alias("line"))
            )
            lines = lines.unionByName(headers)
        return lines

    # --- save outputs --------------------------------------------------------------------------
    out_root = out.rstrip("/")
    landing_dir, truth_dir, staging = f"{out_root}/landing", f"{out_root}/truth", f"{out_root}/_staging"
    extension = {p: c.file_extension() for p, c in contracts.items()}
    keys = ["platform_id", "feed", "delivery_date", "part"]
    writes: dict[str, Callable[[], list[str]]] = {}
    groups = sorted({(c.encoding, c.compression) for c in contracts.values() if c.format != "parquet"})
    for i, (encoding, compression) in enumerate(groups, start=1):
        members_of_group = sorted(p for p, c in contracts.items() if c.format != "parquet" and (c.encoding, c.compression) == (encoding, compression))

        def write_text(i=i, encoding=encoding, compression=compression, platform_ids=members_of_group) -> list[str]:
            group_lines = lines_of(platform_ids).repartition(*keys).sortWithinPartitions(*keys, "ord", "rid", "copy").select("line", *keys)
            write_lines(group_lines, f"{staging}/text{i}", encoding, compression, keys)
            return landing.move_partitioned(f"{staging}/text{i}", landing_dir, extension)

        writes[f"text deliveries ({encoding}, {compression}: {len(members_of_group)} platforms)"] = write_text
    for pid in sorted(p for p, c in contracts.items() if c.format == "parquet"):
        for feed in FEED_NAMES:

            def write_parquet(pid=pid, feed=feed) -> list[str]:
                r = dialects.Renderer(settings.feeds, contracts[pid], feed, sections_zh, subs_zh)
                frame = dialects.render_parquet(rows[feed].filter(F.col("platform_id") == pid), r)
                target = f"{staging}/pq_{pid}_{feed}"
                (
                    frame.repartition("delivery_date", "part")
                    .sortWithinPartitions("delivery_date", "part", "rid", "copy")
                    .drop("rid", "copy")
                    .write.mode("overwrite")
                    .partitionBy("delivery_date", "part")
                    .parquet(target)
                )
                return landing.move_partitioned(target, landing_dir, extension, fixed={"platform_id": pid, "feed": feed})

            writes[f"parquet deliveries of {pid} {feed}"] = write_parquet
    moved: list[str] = []
    # The writes are independent and each is dominated by per-file overhead: submit them at once.
    with ThreadPoolExecutor(max_workers=settings.profile.concurrent_jobs) as pool:
        futures = {pool.submit(write): name for name, write in writes.items()}
        for done, future in enumerate(as_completed(futures), start=1):
            moved += future.result()
            progress(f"wrote {futures[future]} ({done}/{len(futures)})")
    landing.remove_dir(staging)

    progress("writing ground truth")
    (
        ents.select("credit_code", "archetype", "effective", "province_code", "division_code", "section_code", "sub_industry_id", "platforms", "n_platforms")
        .write.mode("overwrite")
        .parquet(f"{truth_dir}/enterprises")
    )
    per_feed: dict[str, dict[str, int]] = {feed: {} for feed in FEED_NAMES}
    for r in _union([rows[feed].select(F.lit(feed).alias("feed"), "outcome") for feed in FEED_NAMES]).groupBy("feed", "outcome").count().collect():
        per_feed[r.feed][r.outcome] = r["count"]
    outcomes: dict[str, dict] = {}
    for feed, counts in per_feed.items():
        outcomes[feed] = {
            "rows_delivered": sum(counts.values()),
            "silver": counts.pop("silver", 0),
            "duplicates": counts.pop("duplicate", 0),
            "quarantine": dict(sorted(counts.items())),
        }
    by_archetype = ents.groupBy("archetype", "effective").count().collect()
    archetypes = {r.archetype: r["count"] for r in by_archetype}
    manifest = {
        "generator": "iiap generate",
        "scale": scale,
        "seed": seed,
        "window": {"start": str(window.start), "end": str(window.end), "timezone": window.timezone},
        "enterprises": sum(archetypes.values()),
        "effective": sum(r["count"] for r in by_archetype if r.effective),
        "archetypes": dict(sorted(archetypes.items())),
        "feeds": outcomes,
        "file_faults": {
            name: sorted(f"{d.platform_id}/{d.feed}/{d.delivery_date}" for d in ds)
            for name, ds in (("redelivered", file_faults.resend), ("renamed_column", file_faults.rename), ("extra_column", file_faults.extra))
        },
        "files": len(moved),
    }
    fsys, truth_path = landing.filesystem(truth_dir)
    fsys.create_dir(truth_path, recursive=True)
    with fsys.open_output_stream(f"{truth_path}/manifest.json") as f:
        f.write(json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
    for df in (*rows.values(), *canonical.values(), ents):
        df.unpersist()
    return GenerateResult(landing_dir, truth_dir, len(moved), manifest)
