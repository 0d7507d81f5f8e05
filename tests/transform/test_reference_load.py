"""Reference tables are loaded from conf/reference in one commit each, and left at their version while their source
file is unchanged."""

import shutil

import pytest

from etl import lake
from etl.catalog import REFERENCE_TABLES, Tables
from jobs import reference
from tests.helpers import settings_for


def test_unchanged_sources_are_not_rewritten_and_a_changed_one_is_reloaded(spark, settings, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(settings.conf_dir, conf)
    s = settings_for(settings, tmp_path / "lake", "unused").model_copy(update={"conf_dir": conf})
    t = Tables(s)
    assert reference.run(spark, s) == {name: "loaded" for name in REFERENCE_TABLES}
    assert {name: lake.version(spark, t.reference(name)) for name in REFERENCE_TABLES} == dict.fromkeys(
        REFERENCE_TABLES, 0
    )
    assert reference.run(spark, s) == {name: "unchanged" for name in REFERENCE_TABLES}

    platforms = conf / "reference" / "platforms.csv"
    rows = platforms.read_text(encoding="utf-8").splitlines()
    platforms.write_text("\n".join(rows[:-1]) + "\n", encoding="utf-8")  # the last platform withdrawn
    assert reference.run(spark, s) == {
        name: "loaded" if name == "platforms" else "unchanged" for name in REFERENCE_TABLES
    }
    assert lake.version(spark, t.reference("platforms")) == 1
    assert lake.read(spark, t.reference("platforms")).count() == len(rows) - 2  # less its header and the last row
    assert lake.version(spark, t.reference("provinces")) == 0


def test_a_commit_note_is_refused_for_a_table_that_is_not_overwritten(spark, settings, tmp_path):
    t = Tables(settings_for(settings, tmp_path / "lake", "unused"))
    frame = t.rows(spark, "ops.batches", [])
    refused = r"^ops\.batches: a commit note is kept for overwritten tables only, not append$"
    with pytest.raises(ValueError, match=refused):
        t.write(frame, "ops.batches", note="x")
    assert not lake.exists(spark, t.batches)
