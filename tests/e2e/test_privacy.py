"""No raw user id outside bronze, and no way back to one without the key.

An attacker with every table and file of the lakehouse but bronze, and a list of candidate user ids (here: every
real one, the best list there can be), searches every string value for an id and for the unkeyed hashes of one,
and recomputes the record key a login would have if it were hashed without the key.
"""

import re
from pathlib import Path

from pyspark.sql import functions as F

from etl import lake
from etl.catalog import TABLES, Tables
from etl.silver import KEY_SEPARATOR

TEXT = ("string", "array<string>")
TOKEN = r"[^A-Za-z0-9_\-]+"  # user ids are letters, digits, '-' and '_': a value splits into candidate tokens


def _candidates(spark, t: Tables):
    """Every raw user id with the unkeyed hashes an id could be stored as."""
    ids = lake.read(spark, t.bronze("logins")).select("platform_id", F.trim("user_id").alias("user_id")).distinct()
    ids = ids.filter(F.length("user_id") > 0)
    scoped = F.concat_ws(":", "platform_id", "user_id")
    forms = [
        F.col("user_id"),
        F.sha2("user_id", 256),
        F.sha2(scoped, 256),
        F.md5("user_id"),
        F.sha1("user_id"),
        F.md5(scoped),
    ]
    return ids, ids.select(F.explode(F.array(*forms)).alias("token")).distinct()


def _string_values(frame):
    """Every string (and array-of-string) value of a frame as one text column."""
    kinds = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    cols = [F.col(n) if k == "string" else F.concat_ws(" ", n) for n, k in kinds.items() if k in TEXT]
    return frame.select(F.explode(F.array(*cols)).alias("value")) if cols else None


def test_no_string_outside_bronze_holds_a_raw_user_id_or_an_unkeyed_hash_of_one(spark, one_shot):
    s, _ = one_shot
    t = Tables(s)
    ids, tokens = _candidates(spark, t)
    assert ids.count() > 1000  # the search has something to find
    searched = 0
    for table in TABLES:
        path = t.path(table.id)
        if table.layer == "bronze" or not lake.exists(spark, path):
            continue
        values = _string_values(lake.read(spark, path))
        if values is None:
            continue
        found = (
            values.select(F.explode(F.split("value", TOKEN)).alias("token"))
            .join(tokens, on="token", how="left_semi")
            .limit(5)
            .collect()
        )
        assert found == [], f"{table.id} holds raw user ids or unkeyed hashes of them: {found}"
        searched += 1
    assert searched >= 8  # silver, quarantine, ops tables were there to search


def test_no_file_outside_bronze_holds_a_raw_user_id(spark, one_shot):
    """Data Docs, Delta logs (their column statistics), scratch: every text file of the lakehouse but bronze's."""
    s, _ = one_shot
    ids, _ = _candidates(spark, Tables(s))
    known = {r.user_id for r in ids.collect()}
    root, scanned = Path(s.lakehouse), 0
    for f in root.rglob("*"):
        if f.is_dir() or f.relative_to(root).parts[0] == "bronze" or f.suffix in (".parquet", ".crc"):
            continue
        text = f.read_bytes().decode("utf-8", errors="replace")
        hits = known.intersection(re.split(TOKEN, text))
        assert not hits, f"{f} holds raw user ids: {sorted(hits)[:3]}"
        scanned += 1
    assert scanned > 20


def test_a_login_record_key_cannot_be_recomputed_from_a_guessed_user_id(spark, one_shot):
    """The attack of issue 19: for each silver login, hash every candidate id of its tenant with the row's other
    columns, as an unkeyed record key would be; no candidate may reproduce the row's record_key."""
    s, _ = one_shot
    t = Tables(s)
    silver = lake.read(spark, t.silver("logins"))
    keyed = F.sha2(
        F.concat_ws(KEY_SEPARATOR, "platform_id", "tenant_id", "user_key", F.col("event_ts").cast("string")), 256
    )
    assert silver.filter(keyed != F.col("record_key")).count() == 0  # the formula is the real one, with user_key
    logins = silver.select("platform_id", "tenant_id", "event_ts", "record_key")
    users = lake.read(spark, t.bronze("logins")).select(
        "platform_id", F.trim("tenant_id").alias("tenant_id"), F.trim("user_id").alias("user_id")
    )
    tried = logins.join(users.distinct(), on=["platform_id", "tenant_id"], how="inner")
    unkeyed = F.sha2(
        F.concat_ws(KEY_SEPARATOR, "platform_id", "tenant_id", "user_id", F.col("event_ts").cast("string")), 256
    )
    assert tried.count() > logins.count()  # every row tried against its tenant's users
    assert tried.filter(unkeyed == F.col("record_key")).count() == 0
