"""Helpers the tests share: the tiny national feed's size, and settings pointed at a test's own lakehouse."""

from etl.config import load_generator

# The tiny national feed every end-to-end test shares (generated once per session), in
# two passes of enterprises, as scale 1 is written in ten: every delivery has two part files.
SCALE, SEED, PER_PASS = 0.0003, 11, 2000


def tiny_generator():
    gen = load_generator()
    return gen.model_copy(update={"population": gen.population.model_copy(update={"enterprises_per_chunk": PER_PASS})})


def settings_for(settings, lakehouse, landing):
    """The session settings with another lakehouse and landing root."""
    pipeline = settings.pipeline.model_copy(update={"lakehouse_root": str(lakehouse), "landing_root": landing})
    return settings.model_copy(update={"pipeline": pipeline})


def spark_test_conf(settings) -> dict[str, str]:
    """The extra Spark confs of the test session (and of benchmarks/session_conf.py, which measures them).

    Test tables hold a few hundred rows, and two workers share two cores while one JVM keeps more than one busy, so
    every task and thread is CPU the other worker waits for: one partition per shuffle and per Delta state
    reconstruction (50 tasks by default), no post-commit state checksum (a Spark job per commit; no iiap code reads
    it), the serial collector instead of G1's concurrent threads. Side by side against two partitions, two snapshot
    tasks, checksums and G1: 0.892 and 0.954 of the CPU per ingest (benchmarks/measured/session_conf.md).
    Then no whole-stage code generation (compiling Java per query costs more than it saves on a few hundred rows)
    and no adaptive execution (with one shuffle partition it has nothing to coalesce, and it runs each query stage
    as a job of its own): 0.867 and 0.869 of the CPU per ingest, side by side. Both change plans, never results; the
    profiles (what iiap runs) keep them on.
    """
    java = settings.profile.spark_conf.get("spark.driver.extraJavaOptions", "")
    return {
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "1",
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.databricks.delta.writeChecksumFile.enabled": "false",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.adaptive.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.driver.memory": "3g",
        "spark.driver.extraJavaOptions": f"{java} -XX:+UseSerialGC".strip(),
    }


# A job run as a subprocess by a test starts its own JVM, cold, beside the other worker's. The optimising JIT
# compiler (C2) costs that cold JVM a third of its CPU: a small `iiap ingest` took 137 CPU-s (77.9 s) with it
# and 96 CPU-s (69.3 s) with C1 alone (one run each, not side by side). The tests' subprocesses run on C1
# (etl.spark.quick_start_conf's option).
COLD_JVM_ENV = {"JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1"}


RUN_COLUMNS = ("batch_id", "ingested_at", "quarantined_at", "started_at", "finished_at")  # name the run, not data


def row_differences(left, right, ignore=RUN_COLUMNS) -> tuple[int, int]:
    """(rows of `left` not in `right`, rows of `right` not in `left`), as multisets over `right`'s columns but
    `ignore`, in one Spark job: each row counts +1 on the left and -1 on the right. Maps compare by their entries."""
    from pyspark.sql import functions as F

    keep = [c for c in right.columns if c not in ignore]

    def comparable(frame, side: int):
        kinds = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
        cols = [F.array_sort(F.map_entries(c)).alias(c) if kinds[c].startswith("map") else c for c in keep]
        return frame.select(*cols, F.lit(side).alias("_side"))

    net = comparable(left, 1).unionByName(comparable(right, -1)).groupBy(*keep).agg(F.sum("_side").alias("_net"))
    extra, missing = net.agg(
        F.coalesce(F.sum(F.greatest("_net", F.lit(0))), F.lit(0)),
        F.coalesce(F.sum(F.greatest(-F.col("_net"), F.lit(0))), F.lit(0)),
    ).first()
    return extra, missing


def ingest_differences(spark, tables, reference) -> list[str]:
    """How the tables an ingest writes differ from a reference lakehouse's, but for the columns that name the run;
    the quality history compared for committed batches only (a crashed batch's validations stay, under its id)."""
    from etl import lake

    def differ(name, left, right) -> str | None:
        extra, missing = row_differences(left, right)
        return f"{name}: {extra} rows not in the reference, {missing} missing" if extra or missing else None

    out = []
    for path, ref_path in zip(tables.written_by_ingest(), reference.written_by_ingest(), strict=True):
        name = ref_path.rsplit("/", 2)[-2] + "/" + ref_path.rsplit("/", 1)[-1]
        here, there = lake.exists(spark, path), lake.exists(spark, ref_path)
        if here != there:
            out.append(f"{name}: {'exists' if here else 'missing'}, unlike the reference")
        elif here:
            out.append(differ(name, lake.read(spark, path), lake.read(spark, ref_path)))

    def ingest_history(t):
        committed = lake.read(spark, t.batches).filter("status = 'committed' AND files > 0").select("batch_id")
        history = lake.read(spark, t.quality_history).join(committed, on="batch_id", how="left_semi")
        return history.select("suite", "rule", "column", "success", "element_count", "unexpected_count")

    out.append(differ("ops/quality_history", ingest_history(tables), ingest_history(reference)))
    return [d for d in out if d]


class Crash(RuntimeError):
    """A job stopped as if its process were killed at that point (raised by an injected failure)."""


def crash_before_write(mp, k: int, tables: str = "") -> None:
    """The run's k-th table write (counting tables whose id starts with `tables`) raises Crash, as a process killed
    just before it would write."""
    from etl.catalog import Tables

    real, seen = Tables.write, []

    def write(self, frame, table_id, note=None):
        if table_id.startswith(tables):
            seen.append(table_id)
            if len(seen) == k:
                raise Crash(f"crashed before write {k} ({table_id})")
        return real(self, frame, table_id, note)

    mp.setattr(Tables, "write", write)
