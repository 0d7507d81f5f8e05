"""iiap economy: the industrial-internet economic accounting, written to gold and tracked in MLflow.

Load (the versioned CSVs of conf/economy, validated) -> process (analytics.economy.accounts, pure
pandas) -> save (one Delta table per output under gold/economy_*, one MLflow run with the input
hashes, the settings, the fit, every table as CSV, the lineage and the comparison report).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from analytics import tracking
from analytics.economy import accounts, report, schema
from analytics.economy.inputs import EconomyInputs, load_inputs
from analytics.economy.settings import EconomySettings, load_economy
from etl import lake
from etl.catalog import Tables
from etl.config import Settings

EXPERIMENT = "economy"


@dataclass(frozen=True)
class EconomyResult:
    run_id: str
    years: tuple[int, ...]
    fit: dict
    output_versions: dict[str, int]
    national: list[dict]
    comparison: list[dict]
    demo: bool


def config_path(settings: Settings) -> Path:
    return settings.conf_dir / "economy" / "economy.yaml"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(settings: Settings, config: Path | None = None) -> tuple[EconomySettings, EconomyInputs, Path]:
    """The settings and every input table, validated (etl.model.ConfigError names file, row and column)."""
    path = config or config_path(settings)
    cfg = load_economy(path)
    return cfg, load_inputs(cfg, path.parent, settings.reference_dir), path


def process(cfg: EconomySettings, inputs: EconomyInputs) -> dict:
    """Every output table (pandas), the comparison report included."""
    result = accounts.compute(inputs, cfg)
    tables = dict(result.tables)
    tables["economy_comparison"] = report.comparison(
        tables, inputs.published, cfg.regions.weights, cfg.base_year, inputs.is_demo
    )
    return {"tables": tables, "fit": result.fit, "years": result.years}


def _params(cfg: EconomySettings, inputs: EconomyInputs, config: Path, hashes: dict[str, str], revision: str) -> dict:
    flat = {f"setting.{k}": v for k, v in _flatten(cfg.model_dump(mode="json")).items()}
    return {
        **flat,
        **{f"input_sha256.{k}": v for k, v in hashes.items()},
        "config": str(config),
        "io_sectors": len(inputs.io.sectors),
        "related_sectors": len(inputs.s_k),
        "demo_inputs": inputs.is_demo,
        "git_revision": revision,
    }


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= _flatten(value, f"{name}.")
        else:
            out[name] = json.dumps(value, ensure_ascii=False) if isinstance(value, list | tuple) else value
    return out


def run(
    spark: SparkSession, settings: Settings, config: Path | None = None, progress=lambda msg: None
) -> EconomyResult:
    import mlflow

    progress("loading and validating conf/economy")
    cfg, inputs, config = load(settings, config)
    hashes = {"economy.yaml": sha256(config)} | {key: sha256(path) for key, path in inputs.files.items()}
    progress("input-output algebra, production function, regions, employment")
    out = process(cfg, inputs)
    tables, fit = out["tables"], out["fit"]

    revision = tracking.git_revision()
    experiment = tracking.experiment_id(settings, EXPERIMENT)
    with (
        Tables(settings).hold(spark, "economy", progress=progress),
        tracking.started_run(settings, experiment, f"economy {out['years'][0]}..{out['years'][-1]}") as active,
    ):
        run_id = active.info.run_id
        mlflow.set_tags(
            {
                "job": "iiap economy",
                "git_revision": revision,
                "profile": settings.profile_name,
                "demo_inputs": str(inputs.is_demo),
            }
        )
        mlflow.log_params(_params(cfg, inputs, config, hashes, revision))
        mlflow.log_metrics(
            {
                "alpha": fit.alpha,
                "beta": fit.beta,
                "se_alpha": fit.se_alpha,
                "se_beta": fit.se_beta,
                "ln_a": fit.ln_a,
                "se_ln_a": fit.se_ln_a,
                "r_squared": fit.r_squared,
            }
        )
        for row in tables["economy_production"].itertuples(index=False):
            mlflow.log_metric("gamma", float(row.gamma), step=int(row.year))
        for row in tables["economy_national"].itertuples(index=False):
            mlflow.log_metric("total_va", float(row.total_va), step=int(row.year))

        progress("writing gold/economy_*")
        versions, catalog = {}, Tables(settings)
        for name in schema.NAMES:
            table_id = f"gold.{name}"
            catalog.write(catalog.rows(spark, table_id, schema.rows(name, tables[name], run_id)), table_id)
            versions[name] = lake.version(spark, catalog.path(table_id))
            mlflow.log_text(schema.csv_text(name, tables[name]), f"tables/{name}.csv")
        mlflow.log_params({f"output_version.gold.{k}": v for k, v in versions.items()})
        mlflow.log_artifact(str(config), "conf")
        comparison = tables["economy_comparison"]
        identities = comparison[comparison["kind"] == "identity"]
        mlflow.log_metric("identities_failed", int((~identities["holds"].astype(bool)).sum()))
        mlflow.log_text(schema.csv_text("economy_comparison", comparison), "report/comparison.csv")
        lineage = {
            "run_id": run_id,
            "git_revision": revision,
            "config": str(config),
            "inputs": {
                k: {
                    "path": str(inputs.files.get(k, config)),
                    "sha256": h,
                    "demo_rows": inputs.demo_rows.get(k, (0, 0))[0],
                    "rows": inputs.demo_rows.get(k, (0, 0))[1],
                }
                for k, h in hashes.items()
            },
            "estimated_inputs": len(tables["economy_estimated_inputs"]),
            "outputs": {k: {"path": settings.table_path("gold", k), "delta_version": v} for k, v in versions.items()},
        }
        mlflow.log_text(json.dumps(lineage, ensure_ascii=False, indent=2), "lineage.json")

    return EconomyResult(
        run_id,
        out["years"],
        fit.as_dict(),
        versions,
        tables["economy_national"].to_dict("records"),
        comparison.to_dict("records"),
        inputs.is_demo,
    )
