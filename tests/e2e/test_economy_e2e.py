"""iiap economy end to end on the DEMO inputs: gold Delta tables with exact row counts, and the MLflow run."""

from __future__ import annotations

import json

import mlflow
import pytest

from analytics.economy.schema import NAMES, struct
from etl import lake
from jobs import economy
from tests.helpers import settings_for

# 2017..2021 (2021 extrapolated), 19 sections, 3 sectors, 31 provinces, 21 IO sectors, fit 2007..2016
ROWS = {
    "economy_national": 5,
    "economy_section": 5 * 19,
    "economy_three_sector": 5 * 3,
    "economy_province": 5 * 31,
    "economy_province_sector": 5 * 31 * 3,
    "economy_io_sector": 21,
    "economy_production": 15,
    "economy_production_fit": 1,
}


@pytest.fixture(scope="module")
def ran(spark, settings, tmp_path_factory):
    s = settings_for(settings, tmp_path_factory.mktemp("lake_economy"), str(tmp_path_factory.mktemp("landing")))
    tracking = s.pipeline.tracking.model_copy(update={"local_store": str(tmp_path_factory.mktemp("mlflow_economy"))})
    s = s.model_copy(update={"pipeline": s.pipeline.model_copy(update={"tracking": tracking})})
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # an earlier test's mlflow.set_tracking_uri may have set it
        return s, economy.run(spark, s)


def test_gold_tables_are_written_with_their_schemas_and_row_counts(spark, ran):
    s, result = ran
    assert result.years == (2017, 2018, 2019, 2020, 2021) and result.demo
    for name in NAMES:
        frame = lake.read(spark, s.table_path("gold", name))
        assert frame.schema.fieldNames() == struct(name).fieldNames(), name
        if name in ROWS:
            assert frame.count() == ROWS[name], name
        assert {r.run_id for r in frame.select("run_id").distinct().collect()} == {result.run_id}
    # the extrapolated inputs: 2021 of 19 sections, 3 national series and 31 x 4 provincial series
    assert lake.read(spark, s.table_path("gold", "economy_estimated_inputs")).count() == 19 + 3 + 31 * 4
    comparison = lake.read(spark, s.table_path("gold", "economy_comparison"))
    identities = comparison.where("kind = 'identity'")
    assert identities.count() > 0 and identities.where("NOT holds").count() == 0


def test_the_mlflow_run_records_inputs_settings_fit_and_tables(ran):
    s, result = ran
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{s.pipeline.tracking.local_store}/mlflow.db")
    run = client.get_run(result.run_id)
    params, metrics = run.data.params, run.data.metrics
    for key in (
        "io_table",
        "related_sectors",
        "sector_sections",
        "national_series",
        "section_value_added",
        "provincial_accounts",
        "published_figures",
        "economy.yaml",
    ):
        assert len(params[f"input_sha256.{key}"]) == 64
    cfg, loaded, _ = economy.load(s)
    assert params["input_sha256.io_table"] == economy.sha256(loaded.files["io_table"])
    assert params["setting.augmentation.split"] == "mixed" and params["setting.base_year"] == "2017"
    assert params["setting.three_sectors.primary"] == '["A"]' and params["demo_inputs"] == "True"
    assert metrics["alpha"] == pytest.approx(result.fit["alpha"]) and metrics["se_beta"] == pytest.approx(
        result.fit["se_beta"]
    )
    assert metrics["identities_failed"] == 0
    gamma = client.get_metric_history(result.run_id, "gamma")
    assert sorted(m.step for m in gamma) == list(range(2007, 2022))
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "tables")}
    assert artifacts == {f"tables/{name}.csv" for name in NAMES}
    lineage = json.loads(mlflow.artifacts.load_text(f"runs:/{result.run_id}/lineage.json"))
    assert lineage["outputs"]["economy_national"]["delta_version"] == int(
        params["output_version.gold.economy_national"]
    )
    assert lineage["inputs"]["io_table"]["demo_rows"] == lineage["inputs"]["io_table"]["rows"] == 24
