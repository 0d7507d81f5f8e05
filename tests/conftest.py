"""One Delta-enabled SparkSession for the whole run, and the tiny national feed the end-to-end tests share.

Tests are kept apart by kind, one folder each, and marked by it (`pytest -m unit`):
unit (no Spark), transform (Spark on small hand-built frames), e2e (whole jobs).
"""

import os
from pathlib import Path

import pytest

from etl.config import load_settings
from jobs import generate, ingest
from tests.helpers import SCALE, SEED, settings_for, tiny_generator

os.environ.setdefault("IIAP_PSEUDONYM_KEY", "test-only-key-0123456789abcdef")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")  # pyspark.testing imports pandas-on-Spark, which asks for it
KINDS = ("unit", "transform", "e2e")


def pytest_collection_modifyitems(config, items):
    """Each test is marked with its folder's kind."""
    root = Path(__file__).parent
    for item in items:
        kind = Path(item.fspath).relative_to(root).parts[0]
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def settings():
    return load_settings()


@pytest.fixture(scope="session")
def spark(settings):
    from etl.spark import build_session

    session = build_session(
        settings,
        "iiap-tests",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.driver.memory": "3g",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def generated(spark, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("feeds")
    return generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(out))


@pytest.fixture(scope="session")
def one_shot(spark, settings, generated, tmp_path_factory):
    s = settings_for(settings, tmp_path_factory.mktemp("lake_one"), generated.landing)
    return s, ingest.run(spark, s)
