import hashlib
import hmac

import pytest
from pyspark.sql import functions as F

from etl.pseudonym import MissingKey, hmac_sha256_hex, key_from_env


@pytest.mark.parametrize("key", [b"short-but-valid-key", b"k" * 100])
def test_spark_hmac_equals_python_hmac(spark, key):
    messages = ["P01:hr-0000000001-u0001", "P02:用户", "", None]
    df = spark.createDataFrame([(m,) for m in messages], "m string")
    got = [r.h for r in df.select(hmac_sha256_hex(F.col("m"), key).alias("h")).collect()]
    expected = [None if m is None else hmac.new(key, m.encode(), hashlib.sha256).hexdigest() for m in messages]
    assert got == expected


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("IIAP_TEST_KEY", raising=False)
    with pytest.raises(MissingKey, match="environment variable IIAP_TEST_KEY must hold the pseudonymisation key"):
        key_from_env("IIAP_TEST_KEY")
    monkeypatch.setenv("IIAP_TEST_KEY", "too-short")
    with pytest.raises(MissingKey):
        key_from_env("IIAP_TEST_KEY")
