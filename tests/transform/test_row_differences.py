"""The crash tests' table comparison: rows as multisets, run columns ignored, maps by their entries."""

from tests.helpers import row_differences

SCHEMA = "batch_id string, k int, v string, m map<string,int>"
LEFT = [("a", 1, None, {"x": 1, "y": 2}), ("a", 1, None, {"y": 2, "x": 1}), ("a", 2, "p", None)]
RIGHT = [("b", 1, None, {"x": 1, "y": 2}), ("b", 1, None, {"x": 1, "y": 2}), ("b", 2, "p", None)]


def test_equal_multisets_in_another_order_and_batch_are_equal(spark):
    left, right = spark.createDataFrame(LEFT, SCHEMA), spark.createDataFrame(list(reversed(RIGHT)), SCHEMA)
    assert row_differences(left, right) == (0, 0)


def test_a_repeated_row_counts_as_many_times_as_it_is_repeated(spark):
    left = spark.createDataFrame([*LEFT, ("a", 2, "p", None), ("a", 2, "p", None)], SCHEMA)
    assert row_differences(left, spark.createDataFrame(RIGHT, SCHEMA)) == (2, 0)
    assert row_differences(spark.createDataFrame(RIGHT, SCHEMA), left) == (0, 2)


def test_a_changed_value_or_map_entry_is_one_row_extra_and_one_missing(spark):
    right = spark.createDataFrame([RIGHT[0], ("b", 1, None, {"x": 1, "y": 3}), ("b", 2, "q", None)], SCHEMA)
    assert row_differences(spark.createDataFrame(LEFT, SCHEMA), right) == (2, 2)


def test_only_the_right_sides_columns_but_the_ignored_ones_are_compared(spark):
    left = spark.createDataFrame([(r[0], r[1], r[2], r[3], "extra") for r in LEFT], SCHEMA + ", note string")
    assert row_differences(left, spark.createDataFrame(RIGHT, SCHEMA)) == (0, 0)
    assert row_differences(left, spark.createDataFrame(RIGHT, SCHEMA), ignore=()) == (3, 3)
