"""iiap index release | reproduce | diff: the shipped indices from the lakehouse, as one MLflow run.

Load (the release config and the specs and CSVs it names, every input table pinned at its Delta
version) -> process (indicators, every index, the group comparison, the uncertainty analysis:
`build`, a function of the config files and the versions only) -> save (one MLflow run with the
params to redo it, the output tables as CSV and a ranked bar chart per index). `reproduce` runs
`build` again from the files and versions a run recorded and compares the CSVs byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import model_validator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from analytics import tracking
from analytics.index import IndexSpec, compute, group_comparison, load_spec, rank_uncertainty
from analytics.index import indicators as ind
from etl import lake
from etl.catalog import MissingInput, Tables, read_by
from etl.config import Settings
from etl.model import ConfigError, Frozen, load_model

RELEASE_FILE = Path("indices") / "release.yaml"
EXPERIMENT = "index-release"
GOLD_INPUTS = tuple(t.id for t in read_by("release"))  # gold.app_sessions_daily, gold.enterprise_labels
# lakehouse indicator -> the reference tables and gold table its transform reads (beyond the unit vocabulary)
LAKEHOUSE_INDICATORS = {
    "platforms": ("reference.platforms",),
    "connected_enterprises": ("gold.enterprise_labels",),
    "effective_access_ratio": ("gold.enterprise_labels",),
    "specialised_app_usage": ("gold.app_sessions_daily", "reference.apps"),
    **{indicator: (table,) for indicator, (table, _) in ind.ECONOMY_INDICATORS.items()},
}
ECONOMY_TABLES = ("gold.economy_province", "gold.economy_section")
# lakehouse counts whose sums per index are logged as metrics (a quick check against the classification run)
COUNTED = ("platforms", "connected_enterprises", "specialised_app_usage")
# artifact folders of a run
TABLES, CONF, CHARTS = "tables", "conf", "charts"
RELEASE_ARTIFACT = "release.yaml"
INDICATOR_TABLE = "indicators.csv"
INDICATOR_COLUMNS = ["index", "unit", "indicator", "period", "value", "source"]


class ReproductionError(LookupError):
    """A run cannot be reproduced: not found, or not a release run."""


# --- the release config (conf/indices/release.yaml) --------------------------------------------


class UnitVocabulary(Frozen):
    table: str
    key: str
    name: str
    label: str
    order: str


class Grouping(Frozen):
    table: str
    column: str
    order_table: str
    order_name: str
    order_by: str


class IndexEntry(Frozen):
    spec: str
    unit: str
    external: tuple[str, ...] = ()
    groups: Grouping | None = None


class ReleaseUncertainty(Frozen):
    draws: int | None = None
    seed: int | None = None


class Charts(Frozen):
    dpi: int
    width_inches: float
    height_per_unit_inches: float
    min_height_inches: float


class ReleaseConfig(Frozen):
    period_format: str
    units: dict[str, UnitVocabulary]
    app_usage_measure: Literal["sessions", "enterprises"]
    indices: tuple[IndexEntry, ...]
    uncertainty: ReleaseUncertainty = ReleaseUncertainty()
    charts: Charts

    @model_validator(mode="after")
    def _units_known(self) -> ReleaseConfig:
        unknown = [e.spec for e in self.indices if e.unit not in self.units]
        if unknown:
            raise ValueError(f"indices {unknown} name a unit not declared under units ({', '.join(self.units)})")
        # a run keeps copies of these files under the same relative paths, so they must stay inside the conf folder
        outside = [
            p for e in self.indices for p in (e.spec, *e.external) if Path(p).is_absolute() or ".." in Path(p).parts
        ]
        if outside:
            raise ValueError(f"paths {outside} must be relative to the conf folder, without '..'")
        return self

    def reference_tables(self) -> list[str]:
        names = {u.table for u in self.units.values()}
        names |= {t for e in self.indices if e.groups for t in (e.groups.table, e.groups.order_table)}
        names |= {
            t.split(".", 1)[1] for reads in LAKEHOUSE_INDICATORS.values() for t in reads if t.startswith("reference.")
        }
        return sorted(names)


def load_release(path: Path) -> ReleaseConfig:
    return load_model(ReleaseConfig, path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- load ---------------------------------------------------------------------------------------


def input_ids(config: ReleaseConfig, specs: dict[str, IndexSpec]) -> list[str]:
    """The reference tables the config names, the classification's labels, and the gold tables its specs' lakehouse
    indicators read."""
    fed = {
        i.id
        for spec in specs.values()
        for i in spec.indicators
        if i.source == "lakehouse" and i.id in LAKEHOUSE_INDICATORS
    }
    read = {"gold.enterprise_labels"} | {t for i in fed for t in LAKEHOUSE_INDICATORS[i] if t.startswith("gold.")}
    return [f"reference.{t}" for t in config.reference_tables()] + [t for t in GOLD_INPUTS if t in read]


MISSING_HINT = {
    "reference": "iiap reference (or iiap ingest)"
}  # gold tables name their writer (iiap classify, iiap economy)


@dataclass(frozen=True)
class Inputs:
    """The config files (relative to `conf_root`) and the pinned lakehouse snapshots of one release."""

    conf_root: Path
    release_path: Path
    config: ReleaseConfig
    specs: dict[str, IndexSpec]  # spec id -> spec, in config order
    spec_files: dict[str, str]  # spec id -> path relative to conf_root
    versions: dict[str, int]
    frames: dict[str, DataFrame]


def load_inputs(
    spark: SparkSession,
    settings: Settings,
    release_path: Path,
    conf_root: Path,
    versions: dict[str, int] | None = None,
    pinned: dict[str, int] | None = None,
) -> Inputs:
    """The config and specs, and every input table at `versions` (a reproduction's) or at its current version,
    except those `pinned` (a named economy run's output versions)."""
    config = load_release(release_path)
    specs, files = {}, {}
    for entry in config.indices:
        spec = load_spec(conf_root / entry.spec)
        if spec.id in specs:
            raise ConfigError(f"{release_path}: spec id {spec.id!r} is released twice")
        specs[spec.id], files[spec.id] = spec, entry.spec
    t = Tables(settings)
    names = input_ids(config, specs)
    if versions is None:
        versions = t.pin(spark, names, MISSING_HINT) | (pinned or {})
    missing = sorted(set(names) - set(versions))
    if missing:
        raise ReproductionError(f"no recorded Delta version for input(s) {', '.join(missing)}")
    frames = {name: lake.read(spark, t.path(name), versions[name]) for name in names}
    return Inputs(conf_root, release_path, config, specs, files, {k: versions[k] for k in names}, frames)


# --- process ------------------------------------------------------------------------------------


@dataclass
class Release:
    """Everything a release computes; `tables` are the CSV texts a reproduction must match."""

    period: str
    classification: dict[str, str]
    economy: dict[str, str] = field(default_factory=dict)  # the economy run of the economic-benefit indicators
    tables: dict[str, str] = field(default_factory=dict)  # artifact path below tables/ -> CSV text
    scores: dict[str, pd.DataFrame] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # spec id -> unit -> chart label
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def classification_lineage(labels: DataFrame) -> dict[str, str]:
    """The rule set, window and run of the classification the pinned labels came from (one of each)."""
    rows = labels.select("rule_set", "window_start", "window_end", "run_id").distinct().collect()
    if len(rows) != 1:
        found = (
            "; ".join(f"{r.rule_set} {r.window_start}..{r.window_end} run {r.run_id}" for r in rows[:5]) or "no rows"
        )
        raise MissingInput(
            f"gold.enterprise_labels must hold one classification (rule set, window, run), found {len(rows)}: {found}"
        )
    r = rows[0]
    return {
        "rule_set": str(r.rule_set),
        "window_start": str(r.window_start),
        "window_end": str(r.window_end),
        "run_id": str(r.run_id),
    }


def one_classification(inputs: Inputs, run_id: str) -> None:
    """Every gold table of the classification the release reads comes from the labels' run: a classify killed
    between two of its writes leaves tables of two runs, which must never be published together."""
    for table_id, frame in sorted(inputs.frames.items()):
        if not table_id.startswith("gold.") or table_id in ECONOMY_TABLES or "run_id" not in frame.columns:
            continue
        runs = sorted(r.run_id for r in frame.select("run_id").distinct().collect())
        if runs and runs != [run_id]:
            raise MissingInput(
                f"{table_id} holds classification run {', '.join(runs)}, gold.enterprise_labels run {run_id}: a "
                "classify did not finish; run iiap classify again"
            )


def economy_lineage(inputs: Inputs) -> dict[str, str]:
    """The economy run the pinned economic-accounting tables came from (one run for all of them); empty if none is
    read."""
    tables = [t for t in ECONOMY_TABLES if t in inputs.frames]
    if not tables:
        return {}
    runs = sorted({r.run_id for t in tables for r in inputs.frames[t].select("run_id").distinct().collect()})
    if len(runs) != 1:
        raise MissingInput(
            f"{', '.join(tables)} must hold one economy run, found {len(runs)}: {', '.join(runs[:5]) or 'no rows'}"
        )
    return {"run_id": runs[0]}


def _lakehouse_frames(
    indicators: list[str], inputs: Inputs, vocab: UnitVocabulary, units: DataFrame, year: int
) -> list[DataFrame]:
    """The transforms that feed these indicators (the access pair is one aggregation), keeping only the rows asked
    for."""
    f, frames = inputs.frames, []
    for table in ECONOMY_TABLES:
        wanted = [i for i in indicators if ind.ECONOMY_INDICATORS.get(i, ("",))[0] == table]
        if wanted:
            frames.append(ind.economy_per_unit(f[table], units, vocab.key, year, wanted))
    if "platforms" in indicators:
        frames.append(ind.platforms_per_unit(f["reference.platforms"], units))
    if {"connected_enterprises", "effective_access_ratio"} & set(indicators):
        frames.append(ind.access_per_unit(f["gold.enterprise_labels"], units, vocab.key))
    if "specialised_app_usage" in indicators:
        frames.append(
            ind.specialised_app_usage(
                f["gold.app_sessions_daily"], f["reference.apps"], units, inputs.config.app_usage_measure
            )
        )
    return [frame.filter(F.col("indicator").isin(indicators)) for frame in frames]


def _external(inputs: Inputs, entry, spec: IndexSpec, period: str, unit_names: list[str]) -> pd.DataFrame:
    """The entry's external rows of this period; indicators the spec does not mark external and unknown units are
    errors."""
    external_ids = {i.id for i in spec.indicators if i.source == "external"}
    parts = []
    for rel in entry.external:
        frame = ind.load_external(inputs.conf_root / rel)
        wrong = sorted(set(frame["indicator"]) - external_ids)
        if wrong:
            raise ConfigError(
                f"{rel}: indicator(s) {wrong} are not external indicators of spec {spec.id!r} "
                f"({', '.join(sorted(external_ids))})"
            )
        frame = frame[frame["period"] == period]
        unknown = sorted(set(frame["unit"]) - set(unit_names))
        if unknown:
            raise ConfigError(f"{rel}: unit(s) {unknown} are not {entry.unit} names of the reference table")
        parts.append(frame)
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({c: pd.Series(dtype=float if c == "value" else object) for c in ind.EXTERNAL_COLUMNS})
    )


class _ReferenceTables:
    """The reference tables a release reads, as pandas, each converted once (a few hundred rows at most)."""

    def __init__(self, inputs: Inputs):
        self.inputs, self.cache = inputs, {}

    def __call__(self, name: str) -> pd.DataFrame:
        if name not in self.cache:
            self.cache[name] = self.inputs.frames[f"reference.{name}"].toPandas()
        return self.cache[name]


def indicator_table(
    inputs: Inputs, entry: IndexEntry, spec: IndexSpec, period: str, reference_table, release: Release
) -> tuple[pd.DataFrame, list[str]]:
    """One index's long indicator table (its lakehouse indicators, with their sources, and its external CSVs) and its
    units."""
    vocab = inputs.config.units[entry.unit]
    reference = reference_table(vocab.table).sort_values(vocab.order, kind="stable")
    unit_names = reference[vocab.name].astype(str).tolist()
    release.labels[spec.id] = dict(zip(unit_names, reference[vocab.label].astype(str), strict=True))
    units = ind.unit_vocabulary(inputs.frames[f"reference.{vocab.table}"], vocab.key, vocab.name)
    lakehouse_ids = [i.id for i in spec.indicators if i.source == "lakehouse"]
    fed = [i for i in lakehouse_ids if i in LAKEHOUSE_INDICATORS]
    unfed = [i for i in lakehouse_ids if i not in LAKEHOUSE_INDICATORS]
    if unfed:
        release.notes.append(f"{spec.id}: no lakehouse transform for {', '.join(unfed)}")
    year = datetime.fromisoformat(release.classification["window_end"]).year  # the economy year of the release
    lake_rows = ind.collect_long(_lakehouse_frames(fed, inputs, vocab, units, year), period)
    read = (f"reference.{vocab.table}",)
    lake_rows["source"] = lake_rows["indicator"].map(
        lambda i: "lakehouse " + " ".join(f"{t}@v{inputs.versions[t]}" for t in (*read, *LAKEHOUSE_INDICATORS[i]))
    )
    for name in COUNTED:
        if name in fed:
            release.metrics[f"{spec.id}.sum.{name}"] = float(
                lake_rows.loc[lake_rows["indicator"] == name, "value"].sum()
            )
    external = _external(inputs, entry, spec, period, unit_names)
    table = pd.concat([lake_rows, external], ignore_index=True) if len(external) else lake_rows
    return table.assign(index=spec.id)[INDICATOR_COLUMNS], unit_names


def score_index(
    inputs: Inputs,
    entry: IndexEntry,
    spec: IndexSpec,
    table: pd.DataFrame,
    unit_names: list[str],
    reference_table,
    release: Release,
) -> None:
    """Scores, the group comparison and the rank uncertainty of one index, into the release."""
    result = compute(spec, table[["unit", "indicator", "period", "value"]], units=unit_names)
    release.scores[spec.id] = result.scores
    release.tables[f"{spec.id}/scores.csv"] = _csv(result.scores)
    release.notes += [f"{spec.id}: {m}" for m in result.report.messages()]
    if entry.groups is not None:
        g, vocab = entry.groups, inputs.config.units[entry.unit]
        members = reference_table(g.table)
        grouping = pd.DataFrame({"unit": members[vocab.name], "group": members[g.column]})
        order = reference_table(g.order_table).sort_values(g.order_by, kind="stable")[g.order_name].tolist()
        release.tables[f"{spec.id}/groups.csv"] = _csv(group_comparison(result, grouping, order))
    if spec.uncertainty is not None:
        spread = rank_uncertainty(result, inputs.config.uncertainty.draws, inputs.config.uncertainty.seed)
        release.tables[f"{spec.id}/uncertainty.csv"] = _csv(spread)
    release.metrics |= {
        f"{spec.id}.units": float(len(result.scores)),
        f"{spec.id}.units_ranked": float(result.scores["total"].notna().sum()),
        f"{spec.id}.coverage_mean": float(result.scores["coverage"].mean()),
        f"{spec.id}.coverage_min": float(result.scores["coverage"].min()),
        f"{spec.id}.indicators_absent": float(len(result.report.absent_indicators)),
        f"{spec.id}.indicator_rows": float(table["value"].notna().sum()),
    }


def build(inputs: Inputs, progress=lambda msg: None) -> Release:
    """Every output of the release from the pinned inputs: a pure function of the files and versions."""
    lineage = classification_lineage(inputs.frames["gold.enterprise_labels"])
    one_classification(inputs, lineage["run_id"])
    period = datetime.fromisoformat(lineage["window_end"]).strftime(inputs.config.period_format)
    release = Release(period=period, classification=lineage, economy=economy_lineage(inputs))
    reference_table, used = _ReferenceTables(inputs), []
    for entry in inputs.config.indices:
        spec = next(s for s in inputs.specs.values() if inputs.spec_files[s.id] == entry.spec)
        progress(f"{spec.id}: indicators per {entry.unit}")
        table, unit_names = indicator_table(inputs, entry, spec, period, reference_table, release)
        used.append(table)
        progress(f"{spec.id}: scores, groups, uncertainty")
        score_index(inputs, entry, spec, table, unit_names, reference_table, release)
    indicators = pd.concat(used, ignore_index=True)
    release.tables[INDICATOR_TABLE] = _csv(indicators)
    release.metrics["indicator_rows"] = float(len(indicators))
    return release


def chart(scores: pd.DataFrame, spec: IndexSpec, labels: dict[str, str], charts: Charts):
    """A ranked bar chart of the totals (English labels: no CJK glyph warnings whatever fonts exist)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = scores[scores["total"].notna()].sort_values("rank", kind="stable")
    height = max(charts.min_height_inches, charts.height_per_unit_inches * len(ranked))
    fig, ax = plt.subplots(figsize=(charts.width_inches, height), dpi=charts.dpi)
    names = [f"{int(r)}. {labels.get(u, u)}" for r, u in zip(ranked["rank"], ranked["unit"])]
    ax.barh(names[::-1], ranked["total"].to_numpy()[::-1])
    ax.set_xlabel(f"score (top = {spec.scale:g})")
    ax.set_title(spec.name_en)
    fig.tight_layout()
    return fig


# --- save ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseResult:
    run_id: str
    period: str
    input_versions: dict[str, int]
    classification: dict[str, str]
    metrics: dict[str, float]
    tables: tuple[str, ...]
    artifact_uri: str
    top: dict[str, list[tuple[str, float]]]
    notes: tuple[str, ...]
    economy: dict[str, str] = field(default_factory=dict)


def _params(inputs: Inputs, release: Release, revision: str) -> dict[str, str]:
    root = inputs.conf_root
    params = {
        "release_config": str(inputs.release_path),
        "release_config.sha256": sha256(inputs.release_path),
        "period": release.period,
        "app_usage_measure": inputs.config.app_usage_measure,
        "git_revision": revision,
        **{f"classification.{k}": v for k, v in release.classification.items()},
        **{f"economy.{k}": v for k, v in release.economy.items()},
        **{f"input_version.{k}": str(v) for k, v in inputs.versions.items()},
    }
    for spec_id, spec in inputs.specs.items():
        rel = inputs.spec_files[spec_id]
        params[f"spec.{spec_id}"] = rel
        params[f"spec.{spec_id}.sha256"] = sha256(root / rel)
        for node in spec.node_ids():
            for child, w in spec.weights(node).items():
                params[f"weight.{spec_id}.{node}.{child}"] = f"{w:g}"
        if spec.uncertainty is not None:
            u = inputs.config.uncertainty
            params[f"uncertainty.{spec_id}.draws"] = str(u.draws or spec.uncertainty.draws)
            params[f"uncertainty.{spec_id}.seed"] = str(u.seed if u.seed is not None else spec.uncertainty.seed)
    for entry in inputs.config.indices:
        for rel in entry.external:
            params[f"external.{rel}.sha256"] = sha256(root / rel)
    return params


def _classification_params(settings: Settings, run_id: str) -> dict[str, str]:
    """The rule set's fingerprint and thresholds from the classification run, when its store is reachable."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        params = MlflowClient(tracking.tracking_uri(settings)).get_run(run_id).data.params
    except MlflowException:
        return {}
    return {
        f"classification.{k}": v
        for k, v in params.items()
        if k in ("rule_set_fingerprint", "combine") or k.startswith("threshold.")
    }


def _config_files(inputs: Inputs) -> list[str]:
    files = [inputs.spec_files[s] for s in inputs.specs]
    return files + [rel for e in inputs.config.indices for rel in e.external]


def economy_versions(settings: Settings, run_id: str) -> dict[str, int]:
    """The Delta versions of the economic-accounting tables a named `iiap economy` run wrote."""
    params = tracking.job_run_params(settings, run_id, "iiap economy", "an economy run", MissingInput)
    return {t: int(params[f"output_version.{t}"]) for t in ECONOMY_TABLES if f"output_version.{t}" in params}


def record(settings: Settings, inputs: Inputs, release: Release, progress) -> tuple[str, str]:
    """One MLflow run: the params to redo the release, its metrics, tables, config copies, charts and lineage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    progress("recording the MLflow run")
    revision = tracking.git_revision()
    experiment = tracking.experiment_id(settings, EXPERIMENT)
    with tracking.started_run(settings, experiment, f"index release {release.period}") as active:
        mlflow.set_tags({"job": "iiap index release", "git_revision": revision, "profile": settings.profile_name})
        mlflow.log_params(
            _params(inputs, release, revision) | _classification_params(settings, release.classification["run_id"])
        )
        mlflow.log_metrics(release.metrics)
        for name, text in release.tables.items():
            mlflow.log_text(text, f"{TABLES}/{name}")
        mlflow.log_text(inputs.release_path.read_text(encoding="utf-8"), f"{CONF}/{RELEASE_ARTIFACT}")
        for rel in _config_files(inputs):
            mlflow.log_artifact(str(inputs.conf_root / rel), str(Path(CONF) / Path(rel).parent))
        for spec_id, scores in release.scores.items():
            fig = chart(scores, inputs.specs[spec_id], release.labels[spec_id], inputs.config.charts)
            mlflow.log_figure(fig, f"{CHARTS}/{spec_id}.png")
            plt.close(fig)
        lineage = {
            "inputs": inputs.versions,
            "classification": release.classification,
            "economy": release.economy,
            "notes": release.notes,
            "finished_at": datetime.now(UTC).isoformat(),
        }
        mlflow.log_text(json.dumps(lineage, indent=2, ensure_ascii=False), "lineage.json")
        return active.info.run_id, active.info.artifact_uri


def run(
    spark: SparkSession,
    settings: Settings,
    release_path: Path | None = None,
    progress=lambda msg: None,
    economy_run: str | None = None,
    pinned: dict[str, int] | None = None,
) -> ReleaseResult:
    """Release every index of the config from the lakehouse as it is now, or from the tables `pinned` at the given
    versions (those a classify stage of iiap run wrote), with the economy tables of `economy_run`, if named."""
    release_path = Path(release_path or settings.conf_dir / RELEASE_FILE)
    with Tables(settings).hold(spark, "index release", progress=progress):  # no classify rewrites gold meanwhile
        pinned = (pinned or {}) | (economy_versions(settings, economy_run) if economy_run else {})
        inputs = load_inputs(spark, settings, release_path, settings.conf_dir, pinned=pinned)
        progress("inputs: " + ", ".join(f"{k}@v{v}" for k, v in inputs.versions.items()))
        release = build(inputs, progress)
        run_id, artifact_uri = record(settings, inputs, release, progress)
    top = {
        s: list(zip(df["unit"].head(3), df["total"].head(3).round(2), strict=True)) for s, df in release.scores.items()
    }
    return ReleaseResult(
        run_id,
        release.period,
        inputs.versions,
        release.classification,
        release.metrics,
        tuple(release.tables),
        artifact_uri,
        top,
        tuple(release.notes),
        release.economy,
    )


# --- reproduce and diff -------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    table: str
    detail: str


@dataclass(frozen=True)
class ReproduceResult:
    run_id: str
    input_versions: dict[str, int]
    tables: tuple[str, ...]
    mismatches: tuple[Mismatch, ...]
    git_revision_then: str
    git_revision_now: str

    @property
    def identical(self) -> bool:
        return not self.mismatches


def _run_params(settings: Settings, run_id: str) -> dict[str, str]:
    return tracking.job_run_params(settings, run_id, "iiap index release", "an index release", ReproductionError)


def _download(settings: Settings, run_id: str, path: str, dst: Path) -> Path:
    import mlflow

    os.environ.setdefault(
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"
    )  # a few small CSVs: no progress bars on the console

    return Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=tracking.tracking_uri(settings)
        )
    )


def _recorded_tables(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.csv"))}


def compare_table(name: str, recorded: str, recomputed: str) -> Mismatch | None:
    """None when identical; otherwise the first differences by unit and column."""
    if recorded == recomputed:
        return None
    a, b = (pd.read_csv(io.StringIO(t), dtype=str, keep_default_na=False) for t in (recorded, recomputed))
    if list(a.columns) != list(b.columns):
        return Mismatch(name, f"columns differ: recorded {list(a.columns)}, recomputed {list(b.columns)}")
    keys = [c for c in ("index", "period", "unit", "group", "indicator") if c in a.columns]
    a, b = a.set_index(keys) if keys else a, b.set_index(keys) if keys else b
    only = sorted(map(str, set(a.index) ^ set(b.index)))
    if only:
        return Mismatch(name, f"rows only in one of the two: {', '.join(only[:5])}")
    b = b.loc[a.index]
    diffs = []
    for col in a.columns:
        for key in a.index[a[col] != b[col]]:
            diffs.append(f"unit {key} column {col}: recorded {a.at[key, col]!r}, recomputed {b.at[key, col]!r}")
    return Mismatch(
        name,
        "; ".join(diffs[:10]) + (f" and {len(diffs) - 10} more" if len(diffs) > 10 else "")
        or "same values, different text (row order or formatting)",
    )


def reproduce(spark: SparkSession, settings: Settings, run_id: str, progress=lambda msg: None) -> ReproduceResult:
    """Recompute a release from the config files and Delta versions it recorded; compare every table."""
    params = _run_params(settings, run_id)
    versions = {k.removeprefix("input_version."): int(v) for k, v in params.items() if k.startswith("input_version.")}
    with tempfile.TemporaryDirectory(prefix="iiap-reproduce-") as tmp:
        # --- load: the run's own copies of the config files, the inputs at the recorded versions
        conf = _download(settings, run_id, CONF, Path(tmp))
        recorded = _recorded_tables(_download(settings, run_id, TABLES, Path(tmp)))
        inputs = load_inputs(spark, settings, conf / RELEASE_ARTIFACT, conf, versions)
        progress("inputs (time travel): " + ", ".join(f"{k}@v{v}" for k, v in inputs.versions.items()))
        # --- process
        release = build(inputs, progress)
    # --- compare
    names = sorted(set(recorded) | set(release.tables))
    mismatches = []
    for name in names:
        if name not in recorded or name not in release.tables:
            mismatches.append(
                Mismatch(name, "recorded but not recomputed" if name in recorded else "recomputed but not recorded")
            )
            continue
        m = compare_table(name, recorded[name], release.tables[name])
        if m:
            mismatches.append(m)
    return ReproduceResult(
        run_id, versions, tuple(names), tuple(mismatches), params.get("git_revision", ""), tracking.git_revision()
    )


def diff(settings: Settings, run_a: str, run_b: str) -> pd.DataFrame:
    """Score and rank changes per index and unit from A to B (rank_change > 0: the unit fell)."""
    parts = []
    with tempfile.TemporaryDirectory(prefix="iiap-diff-") as tmp:
        runs = {}
        for tag, run_id in (("a", run_a), ("b", run_b)):
            _run_params(settings, run_id)
            runs[tag] = _recorded_tables(_download(settings, run_id, TABLES, Path(tmp) / tag))
    scores = sorted({n.split("/")[0] for t in runs.values() for n in t if n.endswith("/scores.csv")})
    for spec_id in scores:
        name = f"{spec_id}/scores.csv"
        frames = {
            tag: pd.read_csv(io.StringIO(runs[tag].get(name, "unit,total,rank\n")), dtype={"unit": str, "period": str})
            for tag in runs
        }
        keys = [k for k in ("period", "unit") if k in frames["a"].columns and k in frames["b"].columns]
        merged = frames["a"][[*keys, "total", "rank"]].merge(
            frames["b"][[*keys, "total", "rank"]], on=keys, how="outer", suffixes=("_a", "_b"), sort=False
        )
        merged.insert(0, "index", spec_id)
        merged["score_change"] = merged["total_b"] - merged["total_a"]
        merged["rank_change"] = merged["rank_b"] - merged["rank_a"]
        parts.append(merged)
    columns = ["index", "unit", "total_a", "total_b", "score_change", "rank_a", "rank_b", "rank_change"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    return out[["index", *[c for c in out.columns if c not in columns], *columns[1:]]]
