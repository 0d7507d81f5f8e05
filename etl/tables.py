"""Names and layouts of the lakehouse tables (path-based Delta under the lakehouse root)."""

from __future__ import annotations

from pyspark.sql import types as T

from etl.config import FEED_NAMES, Settings

# gold tables of iiap classify, in the order it writes them
GOLD_TABLES = ("activity_daily", "app_sessions_daily", "activity_features", "enterprise_labels", "access_counts")

# silver logs are partitioned by the reporting date; bronze by delivery date
PARTITIONS = {"bronze": ("delivery_date",), "silver": ("event_date",)}

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField("batch_id", T.StringType(), False),
        T.StructField("feed", T.StringType(), True),
        T.StructField("platform_id", T.StringType(), True),
        T.StructField("source_file", T.StringType(), True),
        T.StructField("delivery_date", T.DateType(), True),
        T.StructField("raw_record", T.StringType(), True),
        T.StructField("reason_code", T.StringType(), False),
        T.StructField("reason_detail", T.StringType(), True),
        T.StructField("quarantined_at", T.TimestampType(), False),
    ]
)


class Tables:
    def __init__(self, settings: Settings):
        self.s = settings

    def bronze(self, feed: str) -> str:
        return self.s.table_path("bronze", feed)

    def silver(self, feed: str) -> str:
        return self.s.table_path("silver", feed)

    @property
    def master(self) -> str:
        return self.s.table_path("silver", "enterprise_master")

    @property
    def quarantine(self) -> str:
        return self.s.table_path("quarantine", "records")

    def reference(self, name: str) -> str:
        return self.s.table_path("reference", name)

    @property
    def manifest(self) -> str:
        return self.s.table_path("ops", "file_manifest")

    @property
    def audit(self) -> str:
        return self.s.table_path("ops", "ingest_audit")

    @property
    def quality_history(self) -> str:
        return self.s.table_path("ops", "quality_history")

    @property
    def batches(self) -> str:
        return self.s.table_path("ops", "batches")

    def gold(self, name: str) -> str:
        return self.s.table_path("gold", name)

    def staging(self, batch_id: str) -> str:
        """Scratch of one ingest batch (its parsed and conformed rows until the gates pass); removed when the run ends."""
        return self.s.table_path("_staging", batch_id)

    def written_by_ingest(self) -> list[str]:
        """Tables an ingest batch writes, in an order that keeps readers consistent."""
        return [*(self.bronze(f) for f in FEED_NAMES), *(self.silver(f) for f in FEED_NAMES), self.master, self.quarantine, self.audit, self.manifest]
