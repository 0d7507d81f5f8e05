"""Enterprises and their platform memberships (tenants), with exact national quotas.

Province and effective status come from quotas, not draws: the enterprise at
permutation position p falls in the province block and effective slice that p
indexes, so the national effective count is exactly round(1,619,865 x scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import credit_code
from etl.config import Generator
from etl.synthetic.rand import choose, int_between, lookup, pick, uniform

_PERMUTATION_PRIMES = (1_000_000_007, 998_244_353, 2_147_483_647)
_ORG_MULTIPLIER, _ORG_OFFSET = 73_939_133, 12_345_679  # bijective on [0, 1e8): gcd(73939133, 10) = 1
_TENANT_MULTIPLIER = 2_654_435_761  # bijective on [0, 1e10): gcd(2654435761, 10) = 1
_ORG_SPACE, _TENANT_SPACE = 10**8, 10**10


def _largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer counts summing exactly to `total`, proportional to `weights`."""
    weight_sum = sum(weights.values())
    raw = {k: total * w / weight_sum for k, w in weights.items()}
    counts = {k: math.floor(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (raw[k] - counts[k], k), reverse=True)[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


@dataclass(frozen=True)
class Quotas:
    enterprises: int
    effective: int
    province_counts: dict[str, int]
    province_effective: dict[str, int]


def quotas(gen: Generator, scale: float) -> Quotas:
    """Exact enterprise and effective counts per province for a scale."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    n = max(1, round(gen.population.enterprises * scale))
    if n > _ORG_SPACE:
        raise ValueError(f"scale {scale} asks for {n} enterprises; organisation codes allow at most {_ORG_SPACE}")
    e = round(gen.population.effective * scale)
    counts = _largest_remainder(n, gen.province_weights)
    tilted = {p: counts[p] * gen.province_effective_tilt.get(p, 1.0) for p in counts}
    effective = _largest_remainder(e, tilted)
    overfull = [p for p in effective if effective[p] > counts[p]]
    if overfull:
        raise ValueError(f"effective tilt exceeds the enterprise count in provinces {overfull}")
    return Quotas(n, e, counts, effective)


def _permutation_prime(n: int) -> int:
    return next(p for p in _PERMUTATION_PRIMES if n % p != 0)


def specialised_propensity(gen: Generator) -> dict[str, float]:
    """Per-enterprise chance of specialised-app use, so expected totals follow the targets."""
    sections = gen.section_weights
    total = sum(sections.values())
    share: dict[str, float] = {}
    manu = gen.manufacturing_sub_industry_weights
    manu_total = sum(manu.values())
    for sub, w in manu.items():
        share[sub] = share.get(sub, 0.0) + sections["C"] / total * w / manu_total
    for section, sub in gen.section_sub_industry.items():
        share[sub] = share.get(sub, 0.0) + sections[section] / total
    tertiary = sum(w for s, w in sections.items() if s not in gen.section_sub_industry and s != "C") / total
    share["services"] = share.get("services", 0.0) + tertiary * (1 - gen.tertiary_other_share)
    share["other"] = share.get("other", 0.0) + tertiary * gen.tertiary_other_share
    missing = set(gen.specialised_app_targets) - set(share)
    if missing:
        raise ValueError(f"specialised_app_targets names sub-industries no enterprise can have: {sorted(missing)}")
    intensity = {s: gen.specialised_app_targets[s] / share[s] for s in gen.specialised_app_targets}
    top = max(intensity.values())
    return {s: v / top for s, v in intensity.items()}


def _sub_industry(gen: Generator, seed: int, ent_id, section):
    manufacturing = pick(uniform(seed, "sub_industry", ent_id), gen.manufacturing_sub_industry_weights)
    tertiary = F.when(uniform(seed, "tertiary_other", ent_id) < gen.tertiary_other_share, F.lit("other")).otherwise(
        F.lit("services")
    )
    return F.when(section == "C", manufacturing).otherwise(
        F.coalesce(lookup(section, gen.section_sub_industry), tertiary)
    )


def chunks(enterprises: int, per_chunk: int) -> list[tuple[int, int]]:
    """[start, end) ranges of enterprise ids, generated and written one after the other.

    Every attribute of an enterprise is a function of its id, so a chunk is the same rows
    whatever the chunking; it only bounds what one pass holds (memory, scratch disk).
    """
    if per_chunk <= 0:
        raise ValueError(f"enterprises per chunk must be positive, got {per_chunk}")
    n = max(1, math.ceil(enterprises / per_chunk))
    size = math.ceil(enterprises / n)  # equal chunks, not one small remainder
    return [(lo, min(lo + size, enterprises)) for lo in range(0, enterprises, size)]


def enterprises(
    spark: SparkSession,
    gen: Generator,
    province_names: dict[str, str],
    scale: float,
    seed: int,
    ids: tuple[int, int] | None = None,
) -> DataFrame:
    """One row per enterprise with its true attributes, archetype and platforms (ids in [start, end), default all)."""
    q = quotas(gen, scale)
    lo, hi = ids if ids is not None else (0, q.enterprises)
    if not 0 <= lo < hi <= q.enterprises:
        raise ValueError(f"enterprise ids [{lo}, {hi}) are outside [0, {q.enterprises})")
    prime, offset = _permutation_prime(q.enterprises), seed % q.enterprises
    provinces = sorted(q.province_counts)
    starts, cumulative = {}, 0
    for p in provinces:
        starts[p] = cumulative
        cumulative += q.province_counts[p]

    ent_id = F.col("ent_id")
    pos = F.pmod(F.col("id") * F.lit(prime) + F.lit(offset), F.lit(q.enterprises))
    province = None
    for p in provinces:
        bound = F.lit(starts[p] + q.province_counts[p])
        province = (
            F.when(F.col("_pos") < bound, F.lit(p))
            if province is None
            else province.when(F.col("_pos") < bound, F.lit(p))
        )
    province = province.otherwise(F.lit(None))
    effective = (F.col("_pos") - lookup(F.col("province_code"), starts)) < lookup(
        F.col("province_code"), q.province_effective
    )

    archetype = F.when(
        F.col("effective"),
        pick(uniform(seed, "archetype", ent_id), {k: a.share for k, a in gen.archetypes.items() if a.effective}),
    ).otherwise(
        pick(uniform(seed, "archetype", ent_id), {k: a.share for k, a in gen.archetypes.items() if not a.effective})
    )

    section = pick(uniform(seed, "section", ent_id), gen.section_weights)
    division = F.concat(F.col("province_code"), pick(uniform(seed, "division", ent_id), gen.division_suffixes))
    org_body = F.lpad(
        F.pmod(ent_id * F.lit(_ORG_MULTIPLIER) + F.lit(_ORG_OFFSET), F.lit(_ORG_SPACE)).cast("string"), 8, "0"
    )
    words = gen.company_name_words
    company = F.concat(
        lookup(F.col("province_code"), province_names),
        choose(uniform(seed, "name1", ent_id), words),
        choose(uniform(seed, "name2", ent_id), words),
        lookup(F.col("section_code"), gen.section_name_suffix),
        F.lit("有限公司"),
    )
    slots = max(gen.population.platforms_per_enterprise)
    n_platforms = pick(
        uniform(seed, "n_platforms", ent_id), {str(k): v for k, v in gen.population.platforms_per_enterprise.items()}
    ).cast("int")
    drawn = F.array(*[pick(uniform(seed, "platform", ent_id, F.lit(k)), gen.platform_weights) for k in range(slots)])
    users_low = lookup(F.col("archetype"), {k: a.users[0] for k, a in gen.archetypes.items()}, 1)
    users_high = lookup(F.col("archetype"), {k: a.users[1] for k, a in gen.archetypes.items()}, 1)

    return (
        # enough tasks that one task's rows (an enterprise has ~30 log rows a month) stay small
        spark.range(
            lo,
            hi,
            numPartitions=max(
                spark.sparkContext.defaultParallelism, math.ceil((hi - lo) / gen.population.enterprises_per_task)
            ),
        )
        .select(F.col("id").alias("ent_id"), pos.alias("_pos"))
        .withColumn("province_code", province)
        .withColumn("effective", effective)
        .select(
            "ent_id",
            "province_code",
            "effective",
            archetype.alias("archetype"),
            section.alias("section_code"),
            division.alias("division_code"),
            org_body.alias("_org_body"),
            F.array_distinct(F.slice(drawn, 1, n_platforms)).alias("platforms"),
        )
        .select(
            "ent_id",
            credit_code.make_col(F.lit("91"), F.col("division_code"), F.col("_org_body")).alias("credit_code"),
            "province_code",
            "division_code",
            "section_code",
            _sub_industry(gen, seed, ent_id, F.col("section_code")).alias("sub_industry_id"),
            company.alias("company_name"),
            "archetype",
            "effective",
            "platforms",
            F.size("platforms").alias("n_platforms"),
            int_between(uniform(seed, "users", ent_id), users_low, users_high).alias("users"),
        )
    )


def tenant_id(prefix: F.Column, ent_id: F.Column, platform_salt: F.Column) -> F.Column:
    """A platform's own id for an enterprise: unique within the platform, unrelated to the credit code."""
    number = F.pmod(ent_id * F.lit(_TENANT_MULTIPLIER) + platform_salt, F.lit(_TENANT_SPACE))
    return F.concat(prefix, F.lit("-"), F.lpad(number.cast("string"), 10, "0"))


def tenant_salts(prefixes: dict[str, str]) -> dict[str, int]:
    return {p: 7_919 * (i + 1) for i, p in enumerate(sorted(prefixes))}


def tenant_id_of(prefixes: dict[str, str]) -> F.Column:
    """The tenant id of (ent_id, platform_id) rows."""
    return tenant_id(
        lookup(F.col("platform_id"), prefixes), F.col("ent_id"), lookup(F.col("platform_id"), tenant_salts(prefixes))
    )


def memberships(
    ents: DataFrame, gen: Generator, prefixes: dict[str, str], seed: int, registration_end: date
) -> DataFrame:
    """One row per (enterprise, platform): the tenant as the platform's roster knows it."""
    days = (registration_end - gen.first_registration).days
    reg_day = int_between(uniform(seed, "registered", F.col("ent_id"), F.col("platform_id")), 0, days - 1)
    reg_second = int_between(uniform(seed, "registered_s", F.col("ent_id"), F.col("platform_id")), 8 * 3600, 18 * 3600)
    disagree = uniform(seed, "sector_disagree", F.col("ent_id"), F.col("platform_id")) < gen.sector_disagreement_rate
    other_section = pick(uniform(seed, "other_section", F.col("ent_id"), F.col("platform_id")), gen.section_weights)
    return ents.select(
        "ent_id",
        "credit_code",
        "company_name",
        "section_code",
        "sub_industry_id",
        F.posexplode("platforms").alias("slot", "platform_id"),
    ).select(
        "ent_id",
        "platform_id",
        "slot",
        tenant_id_of(prefixes).alias("tenant_id"),
        "credit_code",
        "company_name",
        F.when(disagree, other_section).otherwise(F.col("section_code")).alias("declared_section"),
        "sub_industry_id",
        F.date_add(F.lit(gen.first_registration), reg_day.cast("int")).alias("_reg_date"),
        reg_second.alias("_reg_second"),
    )
