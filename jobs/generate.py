"""iiap generate: write what the 34 platforms would deliver, plus the ground truth.

Load (`plan_run`: conf and reference data, once) -> process and save, one pass per chunk of
enterprises (`write_pass`: enterprises, activity, faults, dialects -> the chunk's part file of
every delivery, its truth labels and pass manifest) -> save the truth manifest, merged over
the passes written.
A run may write some of the passes (`passes`); later runs add the others to the same folder.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import reference
from etl.config import FEED_NAMES, LOG_FEEDS, Generator, Settings
from etl.synthetic import delivery_files, dialects, events, faults, population, truth


class OutputExists(FileExistsError):
    """OUT holds another feed, or a pass asked for: a feed is never written over, nor mixed with another."""


class PassOutOfRange(ValueError):
    """A pass asked for that the scale does not have."""


@dataclass(frozen=True)
class GenerateResult:
    landing: str
    truth: str
    files: int  # written by this run
    manifest: dict  # over every pass of OUT so far


def parse_passes(spec: str) -> list[int]:
    """'3', '0-4' or '0,3,7-9' -> the sorted pass numbers."""
    found: set[int] = set()
    for item in spec.split(","):
        lo, sep, hi = item.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"{spec!r} is not a list of passes such as 3, 0-4 or 0,3,7-9")
        a, b = int(lo), int(hi) if sep else int(lo)
        if b < a:
            raise ValueError(f"{item.strip()!r}: a range runs from low to high")
        found.update(range(a, b + 1))
    return sorted(found)


def _with_log_keys(rows: DataFrame, prefixes: dict[str, str], weekly: list[str]) -> DataFrame:
    """Tenant ids, and the delivery date: the next day, or the Monday after the week for weekly platforms."""
    delivery = F.when(F.col("platform_id").isin(weekly), F.next_day("local_date", "Mon")).otherwise(
        F.date_add("local_date", 1)
    )
    return rows.withColumn("tenant_id", population.tenant_id_of(prefixes)).withColumn("delivery_date", delivery)


def _rendered(
    rows: DataFrame,
    feed: str,
    renderers: dict[tuple[str, str], dialects.Renderer],
    shared: dialects.SharedValues,
    drift: dict[str, set[str]],
    extension: dict[str, str],
) -> DataFrame:
    """Each row as its platform writes it: a text line, or its Parquet platform's typed struct (a column per platform).

    The feed's renderers take their common values from `shared`, added to the rows first.
    """
    text = {p: r for (p, f), r in renderers.items() if f == feed and r.contract.format != "parquet"}
    parquet = sorted(p for (p, f), r in renderers.items() if f == feed and r.contract.format == "parquet")
    line = dialects.render_text(text, drift)
    structs = [
        F.when(F.col("platform_id") == p, renderers[(p, feed)].typed_struct()).alias(_struct_column(p, feed))
        for p in parquet
    ]
    return shared.add_to(rows.withColumn("feed", F.lit(feed))).select(  # file_column reads the feed
        "platform_id",
        "drift",
        F.lit(1).alias("ord"),
        "rid",
        "copy",
        line.alias("line"),
        *structs,
        delivery_files.file_column(extension).alias("file"),
    )


def _headers(
    rendered: DataFrame, feed: str, renderers: dict[tuple[str, str], dialects.Renderer], drift: dict[str, set[str]]
) -> DataFrame | None:
    """The header line (ord 0) of every CSV file of `feed`, as its delivery's drift names the columns."""
    csv = {p: r for (p, f), r in renderers.items() if f == feed and r.contract.format == "csv"}
    if not csv:
        return None
    header = None
    for p, r in sorted(csv.items()):
        h = F.lit(r.header())
        for kind in drift[p]:
            h = F.when(F.col("drift") == kind, F.lit(r.header(kind))).otherwise(h)
        header = F.when(F.col("platform_id") == p, h) if header is None else header.when(F.col("platform_id") == p, h)
    return (
        rendered.filter(F.col("platform_id").isin(sorted(csv)))
        .select("platform_id", "drift", "file")
        .distinct()
        .select(
            "file",
            F.lit(0).alias("ord"),
            F.lit(0).cast("long").alias("rid"),
            F.lit(0).alias("copy"),
            header.alias("line"),
        )
    )


def _struct_column(pid: str, feed: str) -> str:
    return f"r_{pid}_{feed}"


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def _at_once(work: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run independent Spark jobs from threads: one job's planning (on the driver, one core) overlaps another's
    tasks."""
    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="iiap-generate") as pool:
        futures = {key: pool.submit(fn) for key, fn in work.items()}
        return {key: f.result() for key, f in futures.items()}


def _checkpointed(frames: dict[str, DataFrame]) -> dict[str, DataFrame]:
    return _at_once({key: (lambda df=df: df.localCheckpoint(eager=True)) for key, df in frames.items()})


def _deliveries(rows: dict[str, DataFrame]) -> list[faults.Delivery]:
    union = _union(
        [
            rows[feed].select(
                "platform_id", F.lit(feed).alias("feed"), F.col("delivery_date").cast("string").alias("delivery_date")
            )
            for feed in LOG_FEEDS
        ]
    )
    return [faults.Delivery(r.platform_id, r.feed, r.delivery_date) for r in union.distinct().collect()]


@dataclass(frozen=True)
class Plan:
    """Everything a run needs, derived from conf/ once: vocabularies, dialects, file formats, passes."""

    gen: Generator
    scale: float
    seed: int
    provinces: dict[str, str]
    general_apps: list[str]
    specialised: dict[str, list[str]]
    prefixes: dict[str, str]
    text_platforms: set[str]
    parquet_ids: set[str]
    weekly: list[str]
    limits: dict[str, float]
    resource_limits: dict[str, float]
    shared: dict[str, dialects.SharedValues]
    renderers: dict[tuple[str, str], dialects.Renderer]
    formats: dict[str, delivery_files.FileFormat]
    extension: dict[str, str]
    landing_dir: str
    truth_dir: str
    chunks: list[tuple[int, int]]
    selected: list[int]
    propensity: object
    partitions: int
    identity: dict


def plan_run(
    spark: SparkSession,
    settings: Settings,
    gen: Generator,
    scale: float,
    seed: int,
    out: str,
    passes: Sequence[int] | None,
) -> Plan:
    ref = settings.reference_dir
    provinces = {r["province_code"]: r["name_zh"] for r in reference.rows(ref, "provinces")}
    sections_zh = {r["section_code"]: r["name_zh"] for r in reference.rows(ref, "sections")}
    subs_zh = {r["sub_industry_id"]: r["name_zh"] for r in reference.rows(ref, "sub_industries")}
    apps = reference.rows(ref, "apps")
    specialised: dict[str, list[str]] = {}
    for a in apps:
        if a["kind"] == "specialised":
            specialised.setdefault(a["sub_industry_id"], []).append(a["app_id"])
    contracts = settings.contracts
    text_platforms = {p for p, c in contracts.items() if c.format != "parquet"}
    window = settings.pipeline.window
    limits = settings.pipeline.limits.model_dump()
    unknown = set(gen.platform_weights) ^ set(contracts)
    if unknown:
        raise ValueError(f"generator platform_weights and conf/contracts disagree on platforms: {sorted(unknown)}")
    shared = {
        feed: dialects.SharedValues() for feed in FEED_NAMES
    }  # a feed's platforms render from one set of shared values
    renderers = {
        (p, feed): dialects.Renderer(settings.feeds, c, feed, sections_zh, subs_zh, shared[feed])
        for p, c in contracts.items()
        for feed in FEED_NAMES
    }
    formats = {
        f"{p}/{feed}": delivery_files.FileFormat("parquet", struct_column=_struct_column(p, feed))
        if c.format == "parquet"
        else delivery_files.FileFormat("text", c.encoding, c.compression == "gzip")
        for p, c in contracts.items()
        for feed in FEED_NAMES
    }
    out_root = out.rstrip("/")
    chunks = population.chunks(population.quotas(gen, scale).enterprises, gen.population.enterprises_per_chunk)
    selected = sorted(set(range(len(chunks)) if passes is None else passes))
    if not selected or selected[0] < 0 or selected[-1] >= len(chunks):
        raise PassOutOfRange(
            f"passes {list(passes or [])} asked for, but scale {scale} has {len(chunks)} (0-{len(chunks) - 1})"
        )
    identity = {
        "generator": truth.GENERATOR,
        "scale": scale,
        "seed": seed,
        "window": {"start": str(window.start), "end": str(window.end), "timezone": window.timezone},
        "passes": len(chunks),
        "config_sha256": truth.config_sha256(
            gen,
            settings.feeds,
            {p: c.model_dump(mode="json") for p, c in contracts.items()},
            window,
            settings.pipeline.limits,
        ),
    }
    return Plan(
        gen,
        scale,
        seed,
        provinces,
        general_apps=[a["app_id"] for a in apps if a["kind"] == "general"],
        specialised=specialised,
        prefixes={p: c.tenant_id_prefix for p, c in contracts.items()},
        text_platforms=text_platforms,
        parquet_ids=set(contracts) - text_platforms,
        weekly=sorted(p for p, c in contracts.items() if c.delivery_cadence == "weekly"),
        limits=limits,
        resource_limits={k: limits[rk.limit] for k, rk in settings.feeds.resource_kinds.items()},
        shared=shared,
        renderers=renderers,
        formats=formats,
        extension={p: c.file_extension() for p, c in contracts.items()},
        landing_dir=f"{out_root}/landing",
        truth_dir=f"{out_root}/truth",
        chunks=chunks,
        selected=selected,
        propensity=population.specialised_propensity(gen),
        partitions=int(spark.conf.get("spark.sql.shuffle.partitions")),
        identity=identity,
    )


def canonical_rows(
    spark: SparkSession, settings: Settings, plan: Plan, ids: tuple[int, int]
) -> tuple[DataFrame, DataFrame, dict[str, DataFrame]]:
    """A pass's enterprises (held), their days (held) and the four canonical feeds made from them."""
    gen, seed, window, prefixes, weekly = plan.gen, plan.seed, settings.pipeline.window, plan.prefixes, plan.weekly
    ents = population.enterprises(spark, gen, plan.provinces, plan.scale, seed, ids).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    members = population.memberships(ents, gen, prefixes, seed, window.start - timedelta(days=2))
    days = events.enterprise_days(ents, gen, window, seed).persist(
        StorageLevel.MEMORY_AND_DISK
    )  # all three log feeds are made from it
    logins = _with_log_keys(events.logins(days, gen, gen.channels, seed), prefixes, weekly)
    usage = events.resource_usage(days, gen, plan.general_apps, plan.specialised, plan.propensity, seed)
    canonical = {
        "roster": events.roster(members, window),
        "logins": logins.withColumn("user_id", F.concat_ws("-", "tenant_id", "user_suffix")),
        "resource_usage": _with_log_keys(usage, prefixes, weekly),
        "traffic": _with_log_keys(events.traffic(days, gen, seed), prefixes, weekly),
    }
    return ents, days, canonical


def labelled_rows(
    plan: Plan, canonical: dict[str, DataFrame], chunk_faults: faults.FileFaults, k: int
) -> dict[str, DataFrame]:
    """Each feed's rows with their faults applied and the outcome the ingest must reach, held for the writes."""
    rows_faults, out = plan.gen.faults, {}
    for feed in FEED_NAMES:
        labelled = faults.assign(canonical[feed], feed, rows_faults.rows, plan.text_platforms, chunk_faults, plan.seed)
        labelled = faults.apply_values(labelled, feed, plan.limits, plan.resource_limits)
        if feed == "roster":
            labelled = labelled.unionByName(
                faults.invalid_code_tenants(canonical["roster"], rows_faults.invalid_credit_code_rate, plan.seed)
            )
        out[feed] = faults.expand_copies(labelled, chunk_faults, feed, faults.part_name(k))
    return _checkpointed(out)  # held: the text and Parquet writes, the CSV headers and the truth counts read them


def _drift(plan: Plan, chunk_faults: faults.FileFaults) -> dict[str, dict[str, set[str]]]:
    """Per feed and platform: the column drifts (rename, extra) its deliveries carry in this pass."""
    kinds = (("rename", chunk_faults.rename), ("extra", chunk_faults.extra))
    return {
        feed: {
            p: {kind for kind, ds in kinds for d in ds if d.feed == feed and d.platform_id == p} for p in plan.prefixes
        }
        for feed in FEED_NAMES
    }


def write_deliveries(
    plan: Plan, rows: dict[str, DataFrame], ents: DataFrame, drift: dict[str, dict[str, set[str]]], k: int
) -> list[tuple[str, int, int]]:
    """Render and write the pass's part file of every delivery, and its truth rows, at once."""
    order = ["ord", "rid", "copy"]
    rendered = {
        feed: _rendered(rows[feed], feed, plan.renderers, plan.shared[feed], drift[feed], plan.extension)
        for feed in FEED_NAMES
    }
    text = [
        r.filter(F.col("platform_id").isin(sorted(plan.text_platforms))).select("file", *order, "line")
        for r in rendered.values()
    ]
    headers = [
        h for feed in FEED_NAMES if (h := _headers(rendered[feed], feed, plan.renderers, drift[feed])) is not None
    ]
    # apart from the text: a row then carries only its own kind's columns to the writer
    structs = {
        feed: [c for p in sorted(plan.parquet_ids) if (c := _struct_column(p, feed)) in r.columns]
        for feed, r in rendered.items()
    }
    parquet = [
        r.filter(F.col("platform_id").isin(sorted(plan.parquet_ids))).select("file", *order, *structs[feed])
        for feed, r in rendered.items()
        if structs[feed]
    ]
    # a pass's own folder, so that a pass written again (after an interrupted run) replaces its rows
    truth_rows = ents.select(
        "credit_code",
        "archetype",
        "effective",
        "province_code",
        "division_code",
        "section_code",
        "sub_industry_id",
        "platforms",
        "n_platforms",
    )
    landing_dir, formats, partitions = plan.landing_dir, plan.formats, plan.partitions
    writes = {
        "text": lambda: delivery_files.write_files(_union([*text, *headers]), landing_dir, formats, order, partitions),
        "parquet": lambda: (
            delivery_files.write_files(_union(parquet), landing_dir, formats, order, partitions) if parquet else []
        ),
        "truth": lambda: truth_rows.write.mode("overwrite").parquet(
            f"{plan.truth_dir}/enterprises/pass={faults.part_name(k)}"
        ),
    }
    done = _at_once(writes)
    return sorted([*done["text"], *done["parquet"]])


def pass_manifest(
    plan: Plan, k: int, ents: DataFrame, rows: dict[str, DataFrame], chunk_faults: faults.FileFaults, files: list
) -> dict:
    """What the pass holds: enterprises by archetype, rows by feed and outcome, file faults, files."""
    outcome_counts: dict[str, Counter] = {feed: Counter() for feed in FEED_NAMES}
    # a re-sent file is byte-identical to its original: ingest records it as resent and reads none of its rows
    for r in (
        _union(
            [
                df.filter(F.col("part") != faults.RESEND_PART).select(F.lit(feed).alias("feed"), "outcome")
                for feed, df in rows.items()
            ]
        )
        .groupBy("feed", "outcome")
        .count()
        .collect()
    ):
        outcome_counts[r.feed][r.outcome] += r["count"]
    archetypes = {
        r.archetype: (r["count"], r.effective) for r in ents.groupBy("archetype", "effective").count().collect()
    }
    named = (
        ("redelivered", chunk_faults.resend),
        ("renamed_column", chunk_faults.rename),
        ("extra_column", chunk_faults.extra),
    )
    return {
        **plan.identity,
        "pass": k,
        "enterprise_ids": list(plan.chunks[k]),
        "enterprises": sum(n for n, _ in archetypes.values()),
        "effective": sum(n for n, e in archetypes.values() if e),
        "archetypes": {a: n for a, (n, _) in sorted(archetypes.items())},
        "outcomes": {feed: dict(sorted(c.items())) for feed, c in outcome_counts.items()},
        "file_faults": {name: sorted(f"{d.platform_id}/{d.feed}/{d.delivery_date}" for d in ds) for name, ds in named},
        "files": len(files),
        "bytes": sum(b for _, _, b in files),
    }


def write_pass(
    spark: SparkSession, settings: Settings, plan: Plan, k: int, file_faults: faults.FileFaults, step: str, progress
):
    """One pass of enterprises: its rows, its part file of every delivery, its truth; the manifest last, once complete.

    Returns the files written and the file faults (chosen in pass 00, injected into its files only).
    """
    progress(f"{step}: enterprises, memberships and activity")
    ents, days, canonical = canonical_rows(spark, settings, plan, plan.chunks[k])
    if k == 0:  # redelivered and drifted files are picked among the first pass's deliveries
        progress("choosing redelivered and drifted files")
        # held for the deliveries' listing and the rows below; other passes read them once
        canonical = _checkpointed(canonical)
        f = plan.gen.faults
        file_faults = faults.choose_file_faults(
            _deliveries(canonical),
            plan.text_platforms,
            (f.redelivered_files, f.renamed_column_files, f.extra_column_files),
            plan.seed,
        )
    chunk_faults = file_faults if k == 0 else faults.FileFaults.none()
    rows = labelled_rows(plan, canonical, chunk_faults, k)
    days.unpersist()  # the held rows have it
    progress(f"{step}: writing the delivery files")
    files = write_deliveries(plan, rows, ents, _drift(plan, chunk_faults), k)
    manifest = pass_manifest(plan, k, ents, rows, chunk_faults, files)
    for df in (*rows.values(), *canonical.values(), ents):
        df.unpersist()
    truth.write_json(
        truth.pass_path(plan.truth_dir, faults.part_name(k)), manifest
    )  # written last: the pass is complete once it exists
    progress(f"{step}: {len(files):,} files written")
    return files, file_faults


def _step(plan: Plan, i: int, k: int) -> str:
    if len(plan.chunks) == 1:
        return "enterprises"
    ids, last = plan.chunks[k], faults.part_name(len(plan.chunks) - 1)
    return f"[{i}/{len(plan.selected)}: pass {faults.part_name(k)} of 00-{last}] enterprises {ids[0]:,}-{ids[1] - 1:,}"


def run(
    spark: SparkSession,
    settings: Settings,
    gen: Generator,
    scale: float,
    seed: int,
    out: str,
    progress=lambda msg: None,
    passes: Sequence[int] | None = None,
) -> GenerateResult:
    """Write the passes asked for (default: all) of the feed for (config, scale, seed) into OUT."""
    plan = plan_run(spark, settings, gen, scale, seed, out, passes)
    _check_output(plan.landing_dir, plan.truth_dir, plan.identity, plan.selected)
    file_faults, written = faults.FileFaults.none(), []
    for i, k in enumerate(plan.selected, start=1):
        files, file_faults = write_pass(spark, settings, plan, k, file_faults, _step(plan, i, k), progress)
        written += files
    progress("writing ground truth")
    manifest = truth.merge(truth.read_passes(plan.truth_dir), FEED_NAMES)
    truth.write_json(f"{plan.truth_dir}/manifest.json", manifest)
    return GenerateResult(plan.landing_dir, plan.truth_dir, len(written), manifest)


def _check_output(landing_dir: str, truth_dir: str, identity: dict, selected: list[int]) -> None:
    """Refuse to write over a feed or a pass, or to mix passes of different feeds in one OUT."""
    done = truth.read_passes(truth_dir)
    if not done:
        for path in (landing_dir, truth_dir):
            if not delivery_files.is_empty(path):
                raise OutputExists(
                    f"{path} already holds files; give a new --out, or remove it first (a feed is never mixed with "
                    "an older one)"
                )
        return
    conflicts = truth.identity_conflicts(identity, done)
    if conflicts:
        raise OutputExists(
            f"{truth_dir} holds passes of another feed ({'; '.join(conflicts)}); give a new --out, or remove it first"
        )
    again = [k for k in selected if k in done]
    if again:
        raise OutputExists(
            f"passes {', '.join(faults.part_name(k) for k in again)} are already in {truth_dir}/passes; "
            "a pass is never written twice (give a new --out for another feed)"
        )
    parts = {faults.part_name(k) for k in selected} | ({faults.RESEND_PART} if 0 in selected else set())
    left = delivery_files.files_of_parts(landing_dir, parts)
    if left:
        raise OutputExists(
            f"{len(left):,} file{'s' if len(left) != 1 else ''} of passes {', '.join(sorted(parts))} are in "
            f"{landing_dir} (e.g. {left[0]}) from a run that did not finish "
            "(no truth/passes/<part>.json); remove them, then generate those passes again"
        )
