"""Index indicators from the lakehouse, and iiap index release | reproduce | diff on a tiny hand-built lakehouse.

The lakehouse is built here in tmp (reference tables from conf/reference, two small gold tables),
never the session's shared one, and MLflow writes into tmp too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner
from pyspark.testing import assertDataFrameEqual

from analytics import tracking
from analytics.index import indicators as ind
from etl import lake
from etl import reference as ref
from etl.catalog import REFERENCE_TABLES, Tables
from etl.config import PROJECT_ROOT
from jobs import economy, index_release
from jobs.index_cli import index as index_group
from tests.helpers import COLD_JVM_ENV

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
LONG = "unit string, indicator string, value double"
WINDOW = (dt.date(2020, 6, 1), dt.date(2020, 6, 30))
LABELS = (
    "credit_code string, province_code string, section_code string, sub_industry_id string, "
    "platforms array<string>, effective boolean, rule_set string, run_id string, window_start date, "
    "window_end date"
)
SESSIONS = "credit_code string, platform_id string, activity_date date, app_id string, sessions long"


@pytest.fixture(scope="module")
def units(spark):
    return spark.createDataFrame([("11", "北京"), ("31", "上海"), ("12", "天津")], "key string, unit string")


# --- transforms --------------------------------------------------------------------------------


def test_platforms_per_unit_counts_distinct_registered_platforms(spark, units):
    registry = spark.createDataFrame(
        [("P1", "北京"), ("P2", " 北京 "), ("P2", "北京"), ("P3", "上海"), (None, "上海"), ("P4", "火星")],
        "platform_id string, province_name string",
    )
    expected = spark.createDataFrame(
        [("北京", "platforms", 2.0), ("上海", "platforms", 1.0), ("天津", "platforms", 0.0)], LONG
    )
    assertDataFrameEqual(ind.platforms_per_unit(registry, units), expected)


def test_access_per_unit_with_duplicates_nulls_and_unknown_keys(spark, units):
    labels = spark.createDataFrame(
        [
            ("A1", "11", True),
            ("A1", "11", True),  # appended twice: one enterprise
            ("A2", "11", None),  # unknown label: connected, not effective
            ("A3", None, True),  # no province: no unit
            ("A4", "99", True),  # not a province of the vocabulary
            (None, "31", True),  # no credit code: not an enterprise
        ],
        "credit_code string, province_code string, effective boolean",
    )
    expected = spark.createDataFrame(
        [
            ("北京", "connected_enterprises", 2.0),
            ("上海", "connected_enterprises", 0.0),
            ("天津", "connected_enterprises", 0.0),
            ("北京", "effective_access_ratio", 0.5),
            ("上海", "effective_access_ratio", None),
            ("天津", "effective_access_ratio", None),
        ],
        LONG,
    )
    assertDataFrameEqual(ind.access_per_unit(labels, units, "province_code"), expected)


@pytest.mark.parametrize("measure, home, textiles", [("sessions", 23.0, 5.0), ("enterprises", 2.0, 1.0)])
def test_specialised_app_usage_counts_only_the_sub_industry_specialised_apps(spark, measure, home, textiles):
    apps = spark.createDataFrame(
        [
            ("H-MES", "specialised", "home_appliances"),
            ("H-QC", "specialised", "home_appliances"),
            ("T-QC", "specialised", "textiles"),
            ("GEN-ERP", "general", None),
        ],
        "app_id string, kind string, sub_industry_id string",
    )
    sessions = spark.createDataFrame(
        [
            ("E1", "H-MES", 10),
            ("E1", "H-QC", 10),
            ("E2", "H-MES", 3),
            ("E3", "T-QC", 5),
            ("E3", "GEN-ERP", 100),
            ("E4", "NOT-IN-CATALOG", 7),
            ("E5", "T-QC", None),
        ],
        "credit_code string, app_id string, sessions long",
    )
    vocab = spark.createDataFrame(
        [("home_appliances", "家电"), ("textiles", "纺织"), ("aerospace", "航空航天")], "key string, unit string"
    )
    expected = spark.createDataFrame(
        [
            ("家电", "specialised_app_usage", home),
            ("纺织", "specialised_app_usage", textiles),
            ("航空航天", "specialised_app_usage", 0.0),
        ],
        LONG,
    )
    assertDataFrameEqual(ind.specialised_app_usage(sessions, apps, vocab, measure), expected)


def test_collect_long_adds_the_period_in_a_stable_order(spark, units):
    registry = spark.createDataFrame([("P1", "北京")], "platform_id string, province_name string")
    out = ind.collect_long([ind.platforms_per_unit(registry, units)], "2020")
    assert out.to_dict("records") == [
        {"unit": "上海", "indicator": "platforms", "period": "2020", "value": 0.0},
        {"unit": "北京", "indicator": "platforms", "period": "2020", "value": 1.0},
        {"unit": "天津", "indicator": "platforms", "period": "2020", "value": 0.0},
    ]


def test_external_csv_errors_name_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "unit,indicator,period,value,source\n"
        "北京,policies,2020,five,seed\n"
        "上海,policies,2020,3,\n"
        "北京,policies,2020,4,seed\n"
        "天津,policies,2020,1\n"
        "广东,policies,2020,,seed\n",
        encoding="utf-8",
    )
    with pytest.raises(ind.ExternalIndicatorError) as err:
        ind.load_external(bad)
    assert str(err.value).splitlines() == [
        f"{bad}, line 2, column value: 'five' is not a number",
        f"{bad}, line 3, column source: empty",
        f"{bad}, line 4: unit/indicator/period 北京 / policies / 2020 already on line 2",
        f"{bad}, line 5: 4 field(s), expected 5",
    ]
    header = tmp_path / "header.csv"
    header.write_text("unit,indicator,value\n北京,policies,5\n", encoding="utf-8")
    with pytest.raises(
        ind.ExternalIndicatorError, match=r"header.csv, line 1: header must be unit,indicator,period,value,source"
    ):
        ind.load_external(header)


def test_shipped_external_csvs_load_and_none_is_a_demo_economic_indicator():
    for path in sorted((CONF / "indicators").glob("*.csv")):
        frame = ind.load_external(path)
        assert len(frame) and frame["value"].notna().all(), path
        assert not frame["source"].str.contains("DEMO").any(), path
    released = [
        rel for e in index_release.load_release(CONF / "indices" / "release.yaml").indices for rel in e.external
    ]
    assert released == ["indicators/policies_by_province.csv"]


def test_economy_per_unit_takes_the_year_and_converts_to_the_specs_units(spark, units):
    accounts = spark.createDataFrame(
        [(2020, "11", 0.0512, 12.5), (2019, "11", 0.04, 10.0), (2020, "31", 0.03, 7.0), (2020, "99", 0.5, 1.0)],
        "year int, province_code string, gdp_share double, employment double",
    )
    got = ind.economy_per_unit(
        accounts, units, "province_code", 2020, ["iiot_value_added_gdp_share", "employment_driven"]
    )
    expected = spark.createDataFrame(
        [
            ("北京", "iiot_value_added_gdp_share", 5.12),
            ("上海", "iiot_value_added_gdp_share", 3.0),
            ("天津", "iiot_value_added_gdp_share", None),
            ("北京", "employment_driven", 125000.0),
            ("上海", "employment_driven", 70000.0),
            ("天津", "employment_driven", None),
        ],
        LONG,
    )
    assertDataFrameEqual(got, expected, rtol=1e-12)


def test_compare_table_names_the_table_unit_and_column():
    recorded = "period,unit,total,rank\n2020,北京,60.5,1\n2020,上海,50.25,2\n"
    assert index_release.compare_table("regional/scores.csv", recorded, recorded) is None
    m = index_release.compare_table("regional/scores.csv", recorded, recorded.replace("50.25", "50.26"))
    assert (m.table, m.detail) == (
        "regional/scores.csv",
        "unit ('2020', '上海') column total: recorded '50.25', recomputed '50.26'",
    )


# --- release, reproduce, diff ------------------------------------------------------------------


def _labels(spark, rows):
    return spark.createDataFrame(
        [(c, p, s, sub, ["P01"], e, "activity-2of3-v1", "classify-run-1", *WINDOW) for c, p, s, sub, e in rows], LABELS
    )


@pytest.fixture(scope="module")
def lakehouse(spark, settings, tmp_path_factory):
    """Reference tables from conf/reference and a small classification: 5 enterprises in 北京, 上海, 广东."""
    root = tmp_path_factory.mktemp("index_lake")
    store = tmp_path_factory.mktemp("index_mlflow")
    pipeline = settings.pipeline.model_copy(
        update={
            "lakehouse_root": str(root),
            "tracking": settings.pipeline.tracking.model_copy(update={"local_store": str(store)}),
        }
    )
    s = settings.model_copy(update={"pipeline": pipeline})
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        t = Tables(s)
        for name in REFERENCE_TABLES:  # as iiap reference loads them, without its change-tracking commits
            lake.overwrite(ref.to_dataframe(spark, s.reference_dir, name), t.reference(name))
        lake.overwrite(
            _labels(
                spark,
                [
                    ("E1", "11", "C", "home_appliances", True),
                    ("E2", "11", "C", "textiles", False),
                    ("E3", "31", "I", "other", True),
                    ("E4", "31", "F", "services", True),
                    ("E5", "44", "C", "machinery", False),
                ],
            ),
            t.gold("enterprise_labels"),
        )
        day = dt.date(2020, 6, 3)
        lake.overwrite(
            spark.createDataFrame(
                [
                    ("E1", "P01", day, "HOME_A-MES", 10),
                    ("E1", "P01", dt.date(2020, 6, 4), "HOME_A-QC", 10),
                    ("E2", "P01", day, "TEXTIL-QC", 5),
                    ("E3", "P01", day, "GEN-ERP", 100),
                    ("E5", "P01", day, "MACHIN-MES", 8),
                ],
                SESSIONS,
            ),
            t.gold("app_sessions_daily"),
        )
        accounts = economy.run(spark, s)  # the DEMO inputs of conf/economy
        first = index_release.run(spark, s)
        yield s, first, accounts


def _client(s):
    return mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(s))


def test_the_release_run_records_versions_spec_hashes_classification_and_tables(spark, lakehouse):
    s, first, accounts = lakehouse
    params = _client(s).get_run(first.run_id).data.params
    t = Tables(s)
    inputs = index_release.load_inputs(spark, s, CONF / "indices" / "release.yaml", CONF, first.input_versions)
    for name in index_release.input_ids(inputs.config, inputs.specs):
        assert (
            params[f"input_version.{name}"] == str(first.input_versions[name]) == str(lake.version(spark, t.path(name)))
        ), name
    assert set(first.input_versions) == {
        "gold.enterprise_labels",
        "gold.app_sessions_daily",
        "gold.economy_province",
        "gold.economy_section",
        "reference.apps",
        "reference.economic_zones",
        "reference.platforms",
        "reference.provinces",
        "reference.sections",
        "reference.sub_industries",
    }
    assert params["economy.run_id"] == first.economy["run_id"] == accounts.run_id
    for spec_id in ("regional", "industry", "industrial_app"):
        assert (
            params[f"spec.{spec_id}.sha256"]
            == hashlib.sha256((CONF / params[f"spec.{spec_id}"]).read_bytes()).hexdigest()
        )
    assert params["weight.regional.total.application_scope"] == "0.4"
    assert (
        params["classification.rule_set"],
        params["classification.window_start"],
        params["classification.window_end"],
    ) == ("activity-2of3-v1", "2020-06-01", "2020-06-30")
    assert params["period"] == "2020" and params["git_revision"] != ""
    artifacts = {a.path for a in _client(s).list_artifacts(first.run_id, "tables")} | {
        a.path for a in _client(s).list_artifacts(first.run_id, "charts")
    }
    assert {
        "tables/indicators.csv",
        "tables/regional",
        "tables/industry",
        "tables/industrial_app",
        "charts/regional.png",
        "charts/industry.png",
        "charts/industrial_app.png",
    } <= artifacts
    assert {a.path for a in _client(s).list_artifacts(first.run_id, "tables/regional")} == {
        f"tables/regional/{n}.csv" for n in ("scores", "groups", "uncertainty")
    }
    metrics = _client(s).get_run(first.run_id).data.metrics
    assert (
        metrics["regional.sum.connected_enterprises"] == 5
        and metrics["regional.sum.platforms"] == 34
        and metrics["industrial_app.sum.specialised_app_usage"] == 33
    )
    assert metrics["regional.units"] == 31 and metrics["industry.units"] == 19 and metrics["industrial_app.units"] == 22


def test_release_scores_follow_the_lakehouse(lakehouse):
    _, first, _ = lakehouse
    assert first.top["industrial_app"][0] == ("家电", 100.0)
    assert dict(first.top["industrial_app"])["纺织"] == 25.0  # 5 of 20 sessions of the top sub-industry
    assert first.top["regional"][0][0] == "北京"


def _tables_of(client, run_id: str, dst: Path) -> dict[str, str]:
    root = Path(client.download_artifacts(run_id, index_release.TABLES, str(dst)))
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.csv"))}


def test_a_release_killed_mid_run_is_marked_failed_and_the_next_one_is_identical(spark, lakehouse, tmp_path):
    """kill -9 of `iiap index release` while its MLflow run records: the next release takes the dead run's lease
    over, marks its run FAILED, and records the same tables as an uninterrupted release of the same inputs."""
    s, first, _ = lakehouse
    client = _client(s)
    experiment = tracking.experiment_id(s, index_release.EXPERIMENT)
    cmd = [sys.executable, "-m", "jobs", "--lakehouse", s.lakehouse, "index", "release"]
    env = os.environ | COLD_JVM_ENV | {"MLFLOW_TRACKING_URI": tracking.tracking_uri(s)}
    proc = subprocess.Popen(
        cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    running, deadline = [], time.monotonic() + 300
    while not running:
        assert proc.poll() is None, f"the release ended before it could be killed:\n{proc.stdout.read().decode()}"
        assert time.monotonic() < deadline, "the release's MLflow run did not start in 300 s"
        time.sleep(0.1)
        running = client.search_runs([experiment], "attributes.status = 'RUNNING'")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (killed,) = running

    after = index_release.run(spark, s)

    assert client.get_run(killed.info.run_id).info.status == "FAILED"
    assert client.get_run(killed.info.run_id).data.tags[tracking.ABANDONED].startswith("its job ended")
    assert client.get_run(after.run_id).info.status == "FINISHED"
    assert after.input_versions == first.input_versions
    assert _tables_of(client, after.run_id, tmp_path / "after") == _tables_of(client, first.run_id, tmp_path / "first")
    events = lake.read(spark, Tables(s).lease).orderBy("seq").collect()
    assert [(e.event, e.pid) for e in events[-3:] if e.event != "renewed"] == [
        ("taken", proc.pid),
        ("taken_over", os.getpid()),
        ("released", os.getpid()),
    ]


def test_reproduce_after_new_data_and_diff(spark, lakehouse, tmp_path, monkeypatch):
    s, first, _ = lakehouse
    monkeypatch.setattr(
        "jobs.index_cli._spark", lambda settings, name: spark
    )  # no build_session: keep the test session's confs
    runner = CliRunner()
    t = Tables(s)
    before = lake.version(spark, t.gold("enterprise_labels"))
    lake.append(
        _labels(spark, [("E6", "44", "C", "machinery", True), ("E7", "44", "C", "machinery", True)]),
        t.gold("enterprise_labels"),
    )
    assert lake.version(spark, t.gold("enterprise_labels")) == before + 1

    again = index_release.reproduce(spark, s, first.run_id)
    assert again.identical, again.mismatches
    assert again.input_versions["gold.enterprise_labels"] == before
    assert {
        "indicators.csv",
        "regional/scores.csv",
        "regional/groups.csv",
        "industry/uncertainty.csv",
        "industrial_app/scores.csv",
    } <= set(again.tables)

    res = runner.invoke(index_group, ["release"], obj={"settings": s})
    print(res.output)  # pytest -s shows the summary
    assert res.exit_code == 0, res.output
    second = re.search(r"MLflow run ([0-9a-f]{32}) at ", res.output).group(1)
    assert f"gold.enterprise_labels@v{before + 1}" in res.output and "artifacts: " in res.output
    assert _client(s).get_run(second).data.params["input_version.gold.enterprise_labels"] == str(before + 1)
    changes = index_release.diff(s, first.run_id, second)
    moved = changes[changes["score_change"] != 0]
    # 广东 now has the most connected enterprises: the application scope of every province with any moves
    assert set(moved.loc[moved["index"] == "regional", "unit"]) == {"北京", "上海", "广东"}
    gd = changes[(changes["index"] == "regional") & (changes["unit"] == "广东")].iloc[0]
    assert gd["score_change"] > 0 and gd["rank_change"] < 0
    assert set(moved.loc[moved["index"] == "industry", "unit"]) == {
        "制造业",
        "信息传输、软件和信息技术服务业",
        "批发和零售业",
    }
    assert moved[moved["index"] == "industrial_app"].empty

    out = tmp_path / "diff.csv"
    res = runner.invoke(index_group, ["diff", first.run_id, second, "--output", str(out)], obj={"settings": s})
    print(res.output)
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out).shape[0] == len(changes) == 31 + 19 + 22


def test_reproduce_cli_exits_non_zero_and_names_the_differences(spark, lakehouse, monkeypatch):
    """The CLI's side of a failed reproduction (the comparison itself:
    test_compare_table_names_the_table_unit_and_column)."""
    s, first, _ = lakehouse
    mismatch = index_release.Mismatch(
        "industrial_app/scores.csv", "unit ('2020', '家电') column total: recorded '99.0', recomputed '100.0'"
    )
    result = index_release.ReproduceResult(
        first.run_id, first.input_versions, ("industrial_app/scores.csv",), (mismatch,), "abc", "abc"
    )
    monkeypatch.setattr(index_release, "reproduce", lambda *args, **kwargs: result)
    monkeypatch.setattr(
        "jobs.index_cli._spark", lambda settings, name: spark
    )  # no build_session: keep the test session's confs
    res = CliRunner().invoke(index_group, ["reproduce", first.run_id], obj={"settings": s})
    assert res.exit_code == 1
    assert (
        "differs industrial_app/scores.csv: unit ('2020', '家电') column total: recorded '99.0', recomputed '100.0'"
        in res.output
    )
    res = CliRunner().invoke(index_group, ["diff", "no-such-run", first.run_id], obj={"settings": s})
    assert res.exit_code == 1 and "MLflow run no-such-run not found" in res.output


def test_economic_indicators_come_from_the_economy_run_and_a_named_run_is_pinned(spark, lakehouse):
    s, first, accounts = lakehouse
    rows = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=first.run_id, artifact_path="tables/indicators.csv", tracking_uri=tracking.tracking_uri(s)
        )
    )
    economic = rows[rows["indicator"].isin(["iiot_value_added_gdp_share", "employment_driven", "iiot_value_added"])]
    assert economic.groupby("indicator").size().to_dict() == {
        "employment_driven": 31,
        "iiot_value_added": 19,
        "iiot_value_added_gdp_share": 31,
    }
    assert economic["value"].notna().all() and not rows["source"].str.contains("DEMO").any()
    v = first.input_versions
    assert set(economic.loc[economic["index"] == "regional", "source"]) == {
        f"lakehouse reference.provinces@v{v['reference.provinces']} gold.economy_province@v{v['gold.economy_province']}"
    }
    national = {r["year"]: r for r in accounts.national}[2020]
    assert economic.loc[economic["indicator"] == "iiot_value_added", "value"].sum() == pytest.approx(
        national["total_va"], rel=1e-9
    )

    t = Tables(s)
    before = lake.version(spark, t.gold("economy_province"))
    later = economy.run(spark, s)  # a newer economy run: the tables move on
    assert lake.version(spark, t.gold("economy_province")) == before + 1
    pinned = index_release.run(spark, s, economy_run=accounts.run_id)
    assert (pinned.economy["run_id"], pinned.input_versions["gold.economy_province"]) == (accounts.run_id, before)
    latest = index_release.run(spark, s)
    assert (latest.economy["run_id"], latest.input_versions["gold.economy_province"]) == (later.run_id, before + 1)
    again = index_release.reproduce(spark, s, pinned.run_id)
    assert again.identical, again.mismatches
    with pytest.raises(index_release.MissingInput, match=f"MLflow run {first.run_id} is not an economy run"):
        index_release.run(spark, s, economy_run=first.run_id)


def test_gold_tables_of_two_classification_runs_are_never_released_together(spark):
    from types import SimpleNamespace

    def gold(*runs):
        return spark.createDataFrame([(r, 1) for r in runs], "run_id string, n int")

    same = SimpleNamespace(frames={"gold.enterprise_labels": gold("r1"), "gold.app_sessions_daily": gold("r1", "r1")})
    index_release.one_classification(same, "r1")
    mixed = SimpleNamespace(frames={"gold.enterprise_labels": gold("r2"), "gold.app_sessions_daily": gold("r1")})
    with pytest.raises(index_release.MissingInput) as refused:
        index_release.one_classification(mixed, "r2")
    assert str(refused.value) == (
        "gold.app_sessions_daily holds classification run r1, gold.enterprise_labels run r2: a classify did not "
        "finish; run iiap classify again"
    )
