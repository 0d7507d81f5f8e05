"""Custom Great Expectations for this lakehouse, with native Spark conditions.

Each is a column map expectation: GE counts the rows whose condition is false, and
the same Column condition routes rows to quarantine, so both agree by construction.
"""

from __future__ import annotations

from great_expectations.execution_engine import SparkDFExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from pyspark.sql import Column
from pyspark.sql import functions as F

from etl import credit_code


def valid_credit_code(column: Column) -> Column:
    """GB 32100-2015: 18 characters from the code's charset, both check characters right."""
    return credit_code.problem_col(column).isNull()


def whole_number(column: Column) -> Column:
    return column == F.floor(column)


class ColumnValuesValidCreditCode(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_credit_code"

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return valid_credit_code(column)


class ExpectColumnValuesToBeValidCreditCode(ColumnMapExpectation):
    """Expect column values to be unified social credit codes (GB 32100-2015) with both check characters correct."""

    map_metric = "column_values.valid_credit_code"
    success_keys = ("mostly",)


class ColumnValuesWholeNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.whole_number"

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column, **kwargs):
        return whole_number(column)


class ExpectColumnValuesToBeWholeNumbers(ColumnMapExpectation):
    """Expect numeric column values to have no fractional part (counts delivered as decimals)."""

    map_metric = "column_values.whole_number"
    success_keys = ("mostly",)
