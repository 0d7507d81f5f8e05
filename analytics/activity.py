"""Silver logs -> gold activity: enterprise x platform x day, then per-enterprise features.

Days are calendar days in the observation window's time zone, taken from each
event's UTC timestamp (not from silver's `event_date`, which is in the pipeline's
zone), so a window in another zone counts the right events. Each silver log is read
once; everything after the daily table is computed from it.
"""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config import ObservationWindow

DAILY_KEYS = ("credit_code", "platform_id", "activity_date")
DAILY_MEASURES = (
    "logins",
    "users",
    "compute_core_hours",
    "storage_bytes",
    "app_sessions",
    "bytes_in",
    "bytes_out",
    "requests",
)


def local_date(ts: Column, window: ObservationWindow) -> Column:
    """The calendar day `ts` (UTC) falls on in the window's time zone."""
    return F.to_date(F.from_utc_timestamp(ts, window.timezone))


def in_window(events: DataFrame, window: ObservationWindow) -> DataFrame:
    """Events inside [window start 00:00, end 24:00) local time; the partition filter on
    silver's `event_date` (one day of slack either side for the zone offset) only prunes files."""
    return events.filter(
        F.col("event_date").between(F.lit(window.start - timedelta(days=1)), F.lit(window.end + timedelta(days=1)))
        & (F.col("event_ts") >= F.lit(window.start_utc()))
        & (F.col("event_ts") < F.lit(window.end_utc()))
    )


def daily_logins(logins: DataFrame, window: ObservationWindow) -> DataFrame:
    return (
        logins.transform(in_window, window)
        .select("credit_code", "platform_id", local_date(F.col("event_ts"), window).alias("activity_date"), "user_key")
        .groupBy(*DAILY_KEYS)
        .agg(F.count(F.lit(1)).alias("logins"), F.countDistinct("user_key").alias("users"))
    )


def daily_usage(usage: DataFrame, window: ObservationWindow) -> DataFrame:
    def kind(name: str) -> Column:
        return F.sum(F.when(F.col("resource_kind") == name, F.col("quantity")))

    return (
        usage.transform(in_window, window)
        .select(
            "credit_code",
            "platform_id",
            local_date(F.col("event_ts"), window).alias("activity_date"),
            "resource_kind",
            "quantity",
        )
        .groupBy(*DAILY_KEYS)
        .agg(
            kind("compute").alias("compute_core_hours"),
            kind("storage").alias("storage_bytes"),
            F.coalesce(kind("app_session"), F.lit(0.0)).cast("long").alias("app_sessions"),
        )
    )


def daily_traffic(traffic: DataFrame, window: ObservationWindow) -> DataFrame:
    return (
        traffic.transform(in_window, window)
        .select(
            "credit_code",
            "platform_id",
            local_date(F.col("event_ts"), window).alias("activity_date"),
            "bytes_in",
            "bytes_out",
            "requests",
        )
        .groupBy(*DAILY_KEYS)
        .agg(
            F.sum("bytes_in").alias("bytes_in"),
            F.sum("bytes_out").alias("bytes_out"),
            F.sum("requests").alias("requests"),
        )
    )


def daily_activity(logins: DataFrame, usage: DataFrame, traffic: DataFrame, window: ObservationWindow) -> DataFrame:
    """Gold enterprise x platform x day activity: every signal of the three logs, zeros where a log is silent."""
    joined = (
        daily_logins(logins, window)
        .join(daily_usage(usage, window), on=list(DAILY_KEYS), how="full")
        .join(daily_traffic(traffic, window), on=list(DAILY_KEYS), how="full")
    )
    return joined.select(
        *DAILY_KEYS,
        F.coalesce("logins", F.lit(0)).cast("long").alias("logins"),
        F.coalesce("users", F.lit(0)).cast("long").alias("users"),
        F.coalesce("compute_core_hours", F.lit(0.0)).alias("compute_core_hours"),
        F.coalesce("storage_bytes", F.lit(0.0)).alias("storage_bytes"),
        F.coalesce("app_sessions", F.lit(0)).cast("long").alias("app_sessions"),
        F.coalesce("bytes_in", F.lit(0)).cast("long").alias("bytes_in"),
        F.coalesce("bytes_out", F.lit(0)).cast("long").alias("bytes_out"),
        F.coalesce("requests", F.lit(0)).cast("long").alias("requests"),
    )


def daily_app_sessions(usage: DataFrame, window: ObservationWindow) -> DataFrame:
    """Gold enterprise x platform x day x app sessions: what the industrial-app index reads."""
    return (
        usage.transform(in_window, window)
        .filter((F.col("resource_kind") == "app_session") & F.col("app_id").isNotNull())
        .select(
            "credit_code",
            "platform_id",
            local_date(F.col("event_ts"), window).alias("activity_date"),
            "app_id",
            "quantity",
        )
        .groupBy(*DAILY_KEYS, "app_id")
        .agg(F.sum("quantity").cast("long").alias("sessions"))
    )


def _days(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0))


def activity_features(daily: DataFrame, app_sessions: DataFrame) -> DataFrame:
    """Per-enterprise features over the window, combined across all of its platforms.

    Two plain aggregations (platforms -> enterprise-day -> enterprise) instead of one
    with several conditional distinct counts, which Spark would run as an Expand.
    Silver measures are non-negative (the quality rules quarantine the rest), so a day
    sum above 0 means some platform showed that activity that day.
    """
    apps = app_sessions.groupBy("credit_code").agg(F.countDistinct("app_id").alias("distinct_apps"))
    days = daily.groupBy("credit_code", "activity_date").agg(
        F.sum("logins").alias("logins"),
        F.sum("users").alias("users"),
        F.max("users").alias("peak_users"),
        F.sum("compute_core_hours").alias("compute_core_hours"),
        F.max("storage_bytes").alias("storage_bytes"),
        F.sum("app_sessions").alias("app_sessions"),
        F.sum(F.col("bytes_in") + F.col("bytes_out")).alias("traffic_bytes"),
        F.sum("requests").alias("requests"),
    )
    logged = F.col("logins") > 0
    used = (F.col("compute_core_hours") > 0) | (F.col("storage_bytes") > 0) | (F.col("app_sessions") > 0)
    sent = (F.col("traffic_bytes") > 0) | (F.col("requests") > 0)
    features = days.groupBy("credit_code").agg(
        _days(logged | used | sent).alias("active_days"),
        _days(logged).alias("login_days"),
        F.sum("logins").alias("logins"),
        F.sum("users").alias("user_days"),
        F.max("peak_users").alias("peak_daily_users"),
        _days(used).alias("usage_days"),
        F.sum("compute_core_hours").alias("compute_core_hours"),
        F.max("storage_bytes").alias("peak_storage_bytes"),
        F.sum("app_sessions").alias("app_sessions"),
        _days(sent).alias("traffic_days"),
        F.sum("traffic_bytes").alias("traffic_bytes"),
        F.sum("requests").alias("requests"),
    )
    return features.join(apps, on="credit_code", how="left").select(
        "credit_code",
        F.col("active_days").cast("int"),
        F.col("login_days").cast("int"),
        "logins",
        "user_days",
        "peak_daily_users",
        F.col("usage_days").cast("int"),
        "compute_core_hours",
        "peak_storage_bytes",
        "app_sessions",
        F.coalesce("distinct_apps", F.lit(0)).cast("int").alias("distinct_apps"),
        F.col("traffic_days").cast("int"),
        "traffic_bytes",
        "requests",
    )
