"""Thin batch-job entry points: each has run(spark, settings, ...) and runs from the CLI or spark-submit."""
