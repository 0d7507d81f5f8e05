import pytest
from pyspark.sql import functions as F

from etl import credit_code as cc

# Codes published by the companies themselves.
VALID = ["914403001922038216", "91330100716105852F", "9144030071526726XG", "91110000802100433B", "91440300708461136T"]


@pytest.mark.parametrize("code", VALID)
def test_known_codes_are_valid(code):
    assert cc.problem(code) is None


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (None, cc.MISSING),
        ("", cc.MISSING),
        ("91440300192203821", cc.BAD_FORMAT),  # 17 characters
        ("914403001922038I16", cc.BAD_FORMAT),  # I is not in the charset
        ("91440300192203821X", cc.BAD_CHECK),  # last character changed
        ("914403001922038316", cc.BAD_ORG_CHECK),  # organisation check character changed
        ("91440300192203816", cc.BAD_FORMAT),
    ],
)
def test_invalid_codes_name_their_problem(code, problem):
    assert cc.problem(code) == problem


def test_make_builds_valid_codes_with_the_division_inside():
    code = cc.make("91", "440300", "19220382")
    assert code == "914403001922038216"
    assert code[2:8] == "440300"


def test_column_rules_agree_with_python(spark):
    codes = [*VALID, None, "", "91440300192203821X", "914403001922038316", "abc", cc.make("91", "510100", "00000001")]
    df = spark.createDataFrame([(c,) for c in codes], "code string")
    got = [r.p for r in df.select(cc.problem_col(F.col("code")).alias("p")).collect()]
    assert got == [cc.problem(c) for c in codes]
    built = spark.createDataFrame([("91", "440300", "19220382")], "a string, d string, o string").select(
        cc.make_col(F.col("a"), F.col("d"), F.col("o")).alias("c")
    )
    assert built.first().c == "914403001922038216"
