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


RUN_COLUMNS = ("batch_id", "ingested_at", "quarantined_at", "started_at", "finished_at")  # name the run, not data


def ingest_differences(spark, tables, reference) -> list[str]:
    """How the tables an ingest writes differ from a reference lakehouse's, but for the columns that name the run;
    the quality history compared for committed batches only (a crashed batch's validations stay, under its id)."""
    from pyspark.sql import functions as F

    from etl import lake

    def comparable(frame, keep):
        kinds = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
        return frame.select(
            [F.array_sort(F.map_entries(c)).alias(c) if kinds[c].startswith("map") else c for c in keep]
        )

    def differ(name, left, right) -> str | None:
        keep = [c for c in right.columns if c not in RUN_COLUMNS]
        left, right = comparable(left, keep), comparable(right, keep)
        extra, missing = left.exceptAll(right).count(), right.exceptAll(left).count()
        return f"{name}: {extra} rows not in the reference, {missing} missing" if extra or missing else None

    out = []
    for path, ref_path in zip(tables.written_by_ingest(), reference.written_by_ingest(), strict=True):
        name = ref_path.rsplit("/", 2)[-2] + "/" + ref_path.rsplit("/", 1)[-1]
        if lake.exists(spark, path) != lake.exists(spark, ref_path):
            out.append(f"{name}: {'exists' if lake.exists(spark, path) else 'missing'}, unlike the reference")
        elif lake.exists(spark, path):
            out.append(differ(name, lake.read(spark, path), lake.read(spark, ref_path)))
    committed = lake.read(spark, tables.batches).filter("status = 'committed' AND files > 0").select("batch_id")
    history = lake.read(spark, tables.quality_history).join(committed, on="batch_id", how="left_semi")
    keep = ["suite", "rule", "column", "success", "element_count", "unexpected_count"]
    ref_history = lake.read(spark, reference.quality_history).select(keep)
    out.append(differ("ops/quality_history", history.select(keep), ref_history))
    return [d for d in out if d]


class Crash(RuntimeError):
    """A job stopped as if its process were killed at that point (raised by an injected failure)."""


def crash_before_write(mp, k: int, tables: str = "") -> None:
    """The run's k-th table write (counting tables whose id starts with `tables`) raises Crash, as a process killed
    just before it would write."""
    from etl.catalog import Tables

    real, seen = Tables.write, []

    def write(self, frame, table_id):
        if table_id.startswith(tables):
            seen.append(table_id)
            if len(seen) == k:
                raise Crash(f"crashed before write {k} ({table_id})")
        return real(self, frame, table_id)

    mp.setattr(Tables, "write", write)
