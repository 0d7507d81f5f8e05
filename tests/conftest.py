"""One Delta-enabled SparkSession for the whole run, and the tiny national feed the end-to-end tests share.

Tests are kept apart by kind, one folder each, and marked by it (`pytest -m unit`):
unit (no Spark), transform (Spark on small hand-built frames), e2e (whole jobs).

`make test` runs them in two pytest-xdist workers (`-n 2 --dist loadgroup`), each with its own
SparkSession: a module stays on one worker (its module fixtures are built once), the modules
that read the shared one-shot lakehouse stay together, and the tiny feed is generated once
for both workers. A Spark driver keeps about one core busy, so two workers fill this machine.
"""

import fcntl
import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from etl.config import load_settings
from jobs import generate, ingest
from tests.helpers import SCALE, SEED, settings_for, spark_test_conf, tiny_generator

os.environ.setdefault("IIAP_PSEUDONYM_KEY", "test-only-key-0123456789abcdef")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")  # pyspark.testing imports pandas-on-Spark, which asks for it
KINDS = ("unit", "transform", "e2e")


# Modules whose tests read (and add gold tables to) the one-shot lakehouse: one xdist worker runs them all.
ONE_SHOT_GROUP = "one_shot"


def _uses_one_shot(item) -> bool:
    return "one_shot" in getattr(item, "fixturenames", ())


# tryfirst: xdist's worker turns xdist_group marks into scheduling groups in this same hook, so the marks must be
# on the items before it runs (tests/unit/test_test_grouping.py checks that they are).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Each test is marked with its folder's kind, and with the xdist group that keeps its module on one worker."""
    root = Path(__file__).parent
    shared = {item.module.__name__ for item in items if _uses_one_shot(item)}
    for item in items:
        kind = Path(item.fspath).relative_to(root).parts[0]
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
        group = ONE_SHOT_GROUP if item.module.__name__ in shared else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def settings():
    return load_settings()


@pytest.fixture(scope="session")
def spark(settings):
    from etl.spark import build_session

    session = build_session(settings, "iiap-tests", spark_test_conf(settings))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def generated(spark, settings, tmp_path_factory):
    """The tiny national feed, written once per run: under xdist the first worker to ask writes it (under a lock,
    into the run's shared temporary folder) and the others read what it wrote. Tests only read it."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # a run without workers
        return generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(tmp_path_factory.mktemp("feeds")))
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / "feeds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        written = shared / "feeds.json"
        if written.exists():
            return generate.GenerateResult(**json.loads(written.read_text()))
        result = generate.run(spark, settings, tiny_generator(), SCALE, SEED, str(shared / "feeds"))
        written.write_text(json.dumps(asdict(result)))
        return result


@pytest.fixture(scope="session")
def one_shot(spark, settings, generated, tmp_path_factory):
    s = settings_for(settings, tmp_path_factory.mktemp("lake_one"), generated.landing)
    return s, ingest.run(spark, s)
