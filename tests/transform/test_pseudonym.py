import base64
import hashlib
import hmac

import pytest
from pyspark.sql import functions as F

from etl.pseudonym import MissingKey, hmac_sha256_hex, key_from_env, with_key_pads


@pytest.mark.parametrize("key", [b"short-but-valid-key", b"k" * 100])
def test_spark_hmac_equals_python_hmac(spark, key, capsys):
    messages = ["P01:hr-0000000001-u0001", "P02:用户", "", None]
    df = spark.createDataFrame([(m,) for m in messages], "m string")
    hashed = df.transform(with_key_pads, key).select(hmac_sha256_hex(F.col("m")).alias("h"))
    expected = [None if m is None else hmac.new(key, m.encode(), hashlib.sha256).hexdigest() for m in messages]
    assert [r.h for r in hashed.collect()] == expected
    capsys.readouterr()
    hashed.explain("formatted")  # as the UI's SQL tab and the event log show a plan: each node's arguments too
    plans = (
        hashed._jdf.queryExecution().toString()
        + hashed._jdf.queryExecution().executedPlan().toString()
        + capsys.readouterr().out
    )
    inner_pad = bytes(b ^ 0x36 for b in (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0"))
    assert "sha2" in plans and "_hmac_inner_pad" in plans  # the plans were read ...
    b64 = base64.b64encode(inner_pad).decode()
    for secret in (
        key.decode(),
        key.hex(),
        inner_pad.hex(),
        inner_pad.hex().upper(),
        inner_pad.hex()[:16].upper(),
        b64,
    ):
        assert secret not in plans  # ... and hold no form of the key


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("IIAP_TEST_KEY", raising=False)
    with pytest.raises(MissingKey, match="environment variable IIAP_TEST_KEY must hold the pseudonymisation key"):
        key_from_env("IIAP_TEST_KEY")
    monkeypatch.setenv("IIAP_TEST_KEY", "too-short")
    with pytest.raises(MissingKey):
        key_from_env("IIAP_TEST_KEY")


def test_a_quarantined_login_keeps_its_shape_but_never_its_raw_user_id(spark):
    from etl.silver import pseudonymous_record

    key = b"short-but-valid-key"
    rows = [
        ('{"tenantId":"kd-1","userId":"kd-1-u7","ts":"x"}', "kd-1-u7", None),
        ("kd-1,kd-1-u7,159100,app", "kd-1-u7", None),
        ('{"tenantId":"kd-1","userId":"kd-1-u', None, "malformed_record"),
        ('{"tenantId":"kd-1","uid":"kd-1-u7"}', None, None),  # renamed field: the id is there, unnamed
    ]
    df = spark.createDataFrame(rows, "raw_record string, user_id string, parse_error string")
    user_key = hmac_sha256_hex(F.concat_ws(":", F.lit("P02"), F.col("user_id")))
    got = [r.raw for r in df.transform(with_key_pads, key).select(pseudonymous_record(user_key).alias("raw")).collect()]
    pseudonym = hmac.new(key, b"P02:kd-1-u7", hashlib.sha256).hexdigest()
    assert got == [
        f'{{"tenantId":"kd-1","userId":"{pseudonym}","ts":"x"}}',
        f"kd-1,{pseudonym},159100,app",
        '{"xxxxxxxx":"xx-x","xxxxxx":"xx-x-x',
        '{"xxxxxxxx":"xx-x","xxx":"xx-x-xx"}',
    ]
