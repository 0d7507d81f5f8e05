"""Daily activity of each enterprise, as the canonical rows of the three log feeds and the rosters.

Rows are canonical here (UTC timestamps, canonical units, credit codes known); the
dialects module turns them into what each platform actually writes.
"""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config import Archetype, Generator, ObservationWindow
from etl.synthetic.rand import choose, float_between, int_between, lookup, uniform

_GIB, _MIB = float(2**30), float(2**20)
OFFICE_START_S, OFFICE_SPAN_S = 8 * 3600, 12 * 3600


def _param(gen: Generator, name: str, index: int) -> Column:
    """An archetype's range bound (low: 0, high: 1) for the row's archetype."""
    return lookup(F.col("archetype"), {k: float(getattr(a, name)[index]) for k, a in gen.archetypes.items()}, 0.0)


def _is_active_day(name: str, a: Archetype, seed: int, days: int) -> Column:
    ent, day = F.col("ent_id"), F.col("day")
    pattern = a.days
    if pattern.kind == "none":
        return F.lit(False)
    if pattern.kind == "probability":
        threshold = F.when(F.col("weekend"), F.lit(pattern.weekend)).otherwise(F.lit(pattern.weekday))
        return uniform(seed, "active_day", ent, day) < threshold
    if pattern.kind == "spread":  # `count` distinct days spread evenly with a random phase
        count = F.least(int_between(uniform(seed, "spread_n", ent), *pattern.count), F.lit(days))
        gap = F.floor(F.lit(days) / count)
        first = int_between(uniform(seed, "spread_0", ent), F.lit(0), gap - 1)
        return (day >= first) & (F.pmod(day - first, gap) == 0) & (F.floor((day - first) / gap) < count)
    # bursts: up to count[1] runs of consecutive days, each wholly inside the window (a burst
    # cut short by the window's end would look like a one-off trial)
    n = int_between(uniform(seed, "bursts", ent), *pattern.count)
    inside = F.lit(False)
    for j in range(pattern.count[1]):
        length = F.least(int_between(uniform(seed, "burst_len", ent, F.lit(j)), *pattern.length), F.lit(days))
        start = int_between(uniform(seed, "burst_start", ent, F.lit(j)), F.lit(0), F.lit(days) - length)
        inside = inside | ((F.lit(j) < n) & (day >= start) & (day < start + length))
    return inside


def enterprise_days(ents: DataFrame, gen: Generator, window: ObservationWindow, seed: int) -> DataFrame:
    """(enterprise, day) pairs on which the enterprise was active, with the platform it used that day."""
    days = window.days
    active = None
    for name, a in gen.archetypes.items():
        cond = _is_active_day(name, a, seed, days)
        active = (
            F.when(F.col("archetype") == name, cond)
            if active is None
            else active.when(F.col("archetype") == name, cond)
        )
    ent = F.col("ent_id")
    n = F.col("n_platforms")
    other = F.element_at(
        "platforms", (2 + F.floor(uniform(seed, "other_platform", ent, F.col("day")) * (n - 1))).cast("int")
    )
    platform = F.when(
        (n == 1) | (uniform(seed, "primary", ent, F.col("day")) < gen.population.primary_platform_share),
        F.element_at("platforms", 1),
    ).otherwise(other)
    local_date = F.date_add(F.lit(window.start), F.col("day"))
    return (
        ents.filter(F.col("archetype").isin([k for k, a in gen.archetypes.items() if a.days.kind != "none"]))
        .select(
            "ent_id",
            "archetype",
            "sub_industry_id",
            "platforms",
            "n_platforms",
            "users",
            F.explode(F.sequence(F.lit(0), F.lit(days - 1))).alias("day"),
        )
        .withColumn("local_date", local_date)
        .withColumn("weekend", F.dayofweek("local_date").isin(1, 7))
        .filter(active.otherwise(F.lit(False)))
        .select(
            "ent_id",
            "archetype",
            "sub_industry_id",
            "users",
            "day",
            "local_date",
            platform.alias("platform_id"),
            F.to_utc_timestamp(F.col("local_date").cast("timestamp"), window.timezone).alias("midnight_utc"),
        )
    )


def _at(midnight: Column, seconds: Column) -> Column:
    return F.timestamp_seconds(F.unix_seconds(midnight) + seconds)


def logins(days: DataFrame, gen: Generator, channels: tuple[str, ...], seed: int) -> DataFrame:
    ent, day = F.col("ent_id"), F.col("day")
    n = int_between(
        uniform(seed, "logins", ent, day),
        _param(gen, "logins_per_day", 0).cast("long"),
        _param(gen, "logins_per_day", 1).cast("long"),
    )
    slot = F.floor(F.lit(OFFICE_SPAN_S) / F.col("n"))
    i = F.col("i")
    offset = F.lit(OFFICE_START_S) + (i - 1) * slot + F.floor(uniform(seed, "login_s", ent, day, i) * slot)
    user = int_between(uniform(seed, "login_user", ent, day, i), F.lit(0), F.col("users") - 1)
    return (
        days.withColumn("n", n)
        .filter(F.col("n") > 0)
        .withColumn("i", F.explode(F.sequence(F.lit(1), F.col("n"))))
        .select(
            "ent_id",
            "platform_id",
            "local_date",
            _at(F.col("midnight_utc"), offset.cast("long")).alias("event_ts"),
            F.concat(F.lit("u"), F.lpad(user.cast("string"), 4, "0")).alias("user_suffix"),
            choose(uniform(seed, "channel", ent, day, i), channels).alias("channel"),
            F.xxhash64(F.lit("logins"), ent, day, i).alias("rid"),
        )
    )


def resource_usage(
    days: DataFrame,
    gen: Generator,
    general_apps: list[str],
    specialised_apps: dict[str, list[str]],
    propensity: dict[str, float],
    seed: int,
) -> DataFrame:
    ent, day = F.col("ent_id"), F.col("day")

    def draw(salt: str, name: str) -> Column:
        return float_between(uniform(seed, salt, ent, day), _param(gen, name, 0), _param(gen, name, 1))

    sessions_low, sessions_high = (
        _param(gen, "app_sessions", 0).cast("long"),
        _param(gen, "app_sessions", 1).cast("long"),
    )
    spec_apps = F.create_map(
        *[x for sub, apps in specialised_apps.items() for x in (F.lit(sub), F.array(*[F.lit(a) for a in apps]))]
    )
    spec_list = F.element_at(spec_apps, F.col("sub_industry_id"))
    spec_app = F.element_at(
        spec_list, (F.floor(uniform(seed, "spec_app", ent, day) * F.size(spec_list)) + 1).cast("int")
    )
    uses_spec = (sessions_high > 0) & (
        uniform(seed, "spec_use", ent, day) < lookup(F.col("sub_industry_id"), propensity, 0.0)
    )

    def record(kind: str, app_id: Column, quantity: Column, hour: int) -> Column:
        return F.struct(
            F.lit(kind).alias("kind"),
            app_id.cast("string").alias("app_id"),
            quantity.cast("double").alias("quantity"),
            F.lit(hour).alias("hour"),
        )

    def sessions(salt: str, used: Column) -> Column:
        return F.when(
            used, int_between(uniform(seed, salt, ent, day), F.greatest(sessions_low, F.lit(1)), sessions_high)
        )

    records = F.array(
        record("compute", F.lit(None), draw("cpu", "compute_core_hours"), 1),
        record("storage", F.lit(None), F.round(draw("disk", "storage_gb") * _GIB), 2),
        record(
            "app_session",
            choose(uniform(seed, "gen_app", ent, day), general_apps),
            sessions("gen_sessions", sessions_high > 0),
            3,
        ),
        record("app_session", spec_app, sessions("spec_sessions", uses_spec), 4),
    )
    return (
        days.select("ent_id", "platform_id", "local_date", "midnight_utc", "day", F.explode(records).alias("r"))
        .filter(F.col("r.quantity").isNotNull() & (F.col("r.quantity") > 0))
        .select(
            "ent_id",
            "platform_id",
            "local_date",
            _at(F.col("midnight_utc"), (F.col("r.hour") * 3600).cast("long")).alias("event_ts"),
            F.col("r.kind").alias("resource_kind"),
            F.col("r.app_id").alias("app_id"),
            F.col("r.quantity").alias("quantity"),
            F.xxhash64(F.lit("resource_usage"), ent, day, F.col("r.hour")).alias("rid"),
        )
    )


def traffic(days: DataFrame, gen: Generator, seed: int) -> DataFrame:
    ent, day = F.col("ent_id"), F.col("day")
    total = (
        float_between(uniform(seed, "traffic", ent, day), _param(gen, "traffic_mb", 0), _param(gen, "traffic_mb", 1))
        * _MIB
    )
    inbound = F.greatest(F.lit(1.0), F.round(total * float_between(uniform(seed, "traffic_in", ent, day), 0.2, 0.5)))
    return days.select(
        "ent_id",
        "platform_id",
        "local_date",
        F.col("midnight_utc").alias("event_ts"),
        inbound.alias("bytes_in"),
        F.greatest(F.lit(1.0), F.round(total - inbound)).alias("bytes_out"),
        int_between(
            uniform(seed, "requests", ent, day),
            _param(gen, "requests", 0).cast("long"),
            _param(gen, "requests", 1).cast("long"),
        ).alias("requests"),
        F.xxhash64(F.lit("traffic"), ent, day).alias("rid"),
    )


def roster(members: DataFrame, window: ObservationWindow) -> DataFrame:
    """Each platform's roster, delivered the day before the window opens."""
    delivery = window.start - timedelta(days=1)
    return members.select(
        "ent_id",
        "platform_id",
        "tenant_id",
        "credit_code",
        "company_name",
        F.col("declared_section").alias("section_code"),
        "sub_industry_id",
        F.to_utc_timestamp(
            F.timestamp_seconds(F.unix_seconds(F.col("_reg_date").cast("timestamp")) + F.col("_reg_second")),
            window.timezone,
        ).alias("registered_at"),
        F.lit(delivery).alias("delivery_date"),
        F.xxhash64(F.lit("roster"), F.col("ent_id"), F.col("platform_id")).alias("rid"),
    )
