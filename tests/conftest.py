import os

import pytest

from etl.config import load_generator, load_settings
from jobs import generate, ingest

os.environ.setdefault("IIAP_PSEUDONYM_KEY", "test-only-key-0123456789abcdef")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")  # pyspark.testing imports pandas-on-Spark, which asks for it
# The tiny national feed every end-to-end test shares (generated once per session), in
# two passes of enterprises, as scale 1 is written in ten: every delivery has two part files.
SCALE, SEED, PER_PASS = 0.0003, 11, 2000


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


def tiny_generator():
    gen = load_generator()
    return gen.model_copy(update={"population": gen.population.model_copy(update={"enterprises_per_chunk": PER_PASS})})


@pytest.fixture(scope="session")
def generated(spark, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("feeds")
    return generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(out))


def settings_for(settings, lakehouse, landing):
    return settings.model_copy(update={"pipeline": settings.pipeline.model_copy(update={"lakehouse_root": str(lakehouse), "landing_root": landing})})


@pytest.fixture(scope="session")
def one_shot(spark, settings, generated, tmp_path_factory):
    s = settings_for(settings, tmp_path_factory.mktemp("lake_one"), generated.landing)
    return s, ingest.run(spark, s)
