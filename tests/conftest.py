import os

import pytest

from etl.config import load_settings

os.environ.setdefault("IIAP_PSEUDONYM_KEY", "test-only-key-0123456789abcdef")


@pytest.fixture(scope="session")
def settings():
    return load_settings()


@pytest.fixture(scope="session")
def spark(settings):
    from etl.spark import build_session

    session = build_session(
        settings,
        "iiap-tests",
        {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2", "spark.ui.enabled": "false", "spark.driver.memory": "3g"},
    )
    yield session
    session.stop()
