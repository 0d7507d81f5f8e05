"""`iiap index`: compute and audit composite indices from CSV files, without Spark.

Wired into the main command with `main.add_command(index)`; everything here reads files, calls
analytics.index and writes files, so the engine itself never touches the disk.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from analytics.index import IndexDataError, audit, compute, group_comparison, load_spec, rank_uncertainty
from analytics.index.spec import IndexSpec
from etl.model import ConfigError

console = Console(stderr=True, soft_wrap=True)
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)


def _spec(path: Path) -> IndexSpec:
    try:
        return load_spec(path)
    except ConfigError as exc:
        raise click.ClickException(f"invalid index spec:\n{exc}") from None


def _csv(path: Path) -> pd.DataFrame:
    """Every column as text (blank -> NaN): the engine parses numbers and names the bad ones."""
    try:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise click.ClickException(f"{path}: not a readable UTF-8 CSV: {exc}") from None
    return frame.rename(columns=str.strip)


def _fmt(value, digits: int) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _print(frame: pd.DataFrame, title: str, limit: int | None = None, digits: int = 2) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="left" if frame[col].dtype == object else "right")
    shown = frame if limit is None else frame.head(limit)
    for row in shown.itertuples(index=False):
        table.add_row(*(_fmt(v, digits) for v in row))
    Console(width=max(Console().width, 120)).print(table)
    if limit is not None and len(frame) > limit:
        console.print(f"[dim]... {len(frame) - limit} more row(s)[/dim]")


@click.group("index")
def index() -> None:
    """Composite indices (conf/indices/*.yaml): compute from indicator tables, audit published ones."""


@index.command("compute")
@click.option("--spec", "spec_path", type=_FILE, required=True, help="Index spec (YAML).")
@click.option(
    "--indicators", type=_FILE, required=True, help="Long CSV: unit,indicator,value[,period] (other columns ignored)."
)
@click.option("--output", type=_DIR, required=True, help="Folder for scores.csv (and groups.csv, uncertainty.csv).")
@click.option(
    "--groups", "groups_path", type=_FILE, default=None, help="CSV unit,group: mean ranks per group -> groups.csv."
)
@click.option(
    "--draws", type=int, default=None, help="Monte Carlo draws over weights and normalisation -> uncertainty.csv."
)
@click.option("--seed", type=int, default=None, help="Seed of the draws (default: the spec's).")
@click.option("--show", type=int, default=20, show_default=True, help="Rows of the ranking to print.")
def compute_cmd(
    spec_path: Path,
    indicators: Path,
    output: Path,
    groups_path: Path | None,
    draws: int | None,
    seed: int | None,
    show: int,
) -> None:
    """Score every unit: normalised indicators, node scores, total, rank, tier."""
    spec = _spec(spec_path)
    if draws is not None and draws < 1:
        raise click.BadParameter("must be >= 1", param_hint="--draws")
    if seed is not None and draws is None:
        raise click.BadParameter("needs --draws", param_hint="--seed")
    if draws is not None and spec.uncertainty is None:
        raise click.ClickException(
            f"{spec_path}: spec {spec.id!r} has no uncertainty section, so --draws cannot be used"
        )
    try:
        result = compute(spec, _csv(indicators))
        groups = group_comparison(result, _csv(groups_path)) if groups_path else None
        spread = rank_uncertainty(result, draws, seed) if draws is not None else None
    except IndexDataError as exc:
        raise click.ClickException(f"{indicators}: {exc}") from None
    output.mkdir(parents=True, exist_ok=True)
    result.scores.to_csv(output / "scores.csv", index=False)
    for message in result.report.messages():
        console.print(f"[yellow]note[/yellow] {message}")
    shown = ["period"] if result.has_period else []
    shown += ["unit", "total", "rank", "tied", "tier"] + [
        c for c in result.scores.columns if c.startswith("node.") and c[5:] in spec.first_level()
    ]
    _print(result.scores[shown], f"{spec.name_zh} ({spec.id})", show)
    written = ["scores.csv"]
    if groups is not None:
        groups.to_csv(output / "groups.csv", index=False)
        _print(groups.drop(columns="members"), "mean rank by group")
        written.append("groups.csv")
    if spread is not None:
        spread.to_csv(output / "uncertainty.csv", index=False)
        _print(spread, f"rank uncertainty ({draws} draws)", show)
        written.append("uncertainty.csv")
    console.print(f"wrote {', '.join(written)} to {output}")


@index.command("audit")
@click.option(
    "--spec", "spec_path", type=_FILE, required=True, help="Index spec (YAML) whose stated weights are audited."
)
@click.option(
    "--published", type=_FILE, required=True, help="CSV: unit, one column per child (id or Chinese name), total."
)
@click.option("--output", type=_DIR, default=None, help="Folder for audit_weights.csv and audit_residuals.csv.")
@click.option("--node", default=None, help="Node to audit (default: the root).")
@click.option(
    "--fill-missing", type=float, default=None, help="Value for missing components (default: leave such rows out)."
)
@click.option("--show", type=int, default=10, show_default=True, help="Largest residuals to print.")
def audit_cmd(
    spec_path: Path, published: Path, output: Path | None, node: str | None, fill_missing: float | None, show: int
) -> None:
    """Recover the weights a published table used (weights >= 0, summing to 1) and compare with the spec."""
    spec = _spec(spec_path)
    try:
        result = audit(spec, _csv(published), node, fill_missing)
    except IndexDataError as exc:
        raise click.ClickException(f"{published}: {exc}") from None
    _print(result.weights, f"weights of {result.node!r}: stated vs recovered", digits=6)
    largest = result.residuals.reindex(
        result.residuals["residual"].abs().sort_values(ascending=False, kind="stable").index
    )
    _print(largest, "residuals (published - fitted), largest first", show, digits=4)
    n = len(result.residuals)
    console.print(
        f"{n} unit(s); RMSE {result.rmse:.6f} with the recovered weights (max |residual| "
        f"{result.max_abs_residual:.6f}), {result.rmse_stated:.6f} with the stated ones"
    )
    if result.dropped_units:
        console.print(
            f"[yellow]note[/yellow] left out {len(result.dropped_units)} unit(s) with a missing value: "
            f"{', '.join(result.dropped_units)}"
        )
    if result.disagreements:
        console.print(f"[red]disagree[/red] by more than {result.tolerance:g}: {', '.join(result.disagreements)}")
    else:
        console.print(f"recovered weights agree with the stated ones within {result.tolerance:g}")
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        result.weights.to_csv(output / "audit_weights.csv", index=False)
        result.residuals.to_csv(output / "audit_residuals.csv", index=False)
        console.print(f"wrote audit_weights.csv, audit_residuals.csv to {output}")


# --- releases from the lakehouse (Spark), recorded in MLflow: jobs/index_release.py ---------------


def _settings(obj):
    """The main command's settings (conf, profile, lakehouse); the defaults when `index` runs alone."""
    if obj and "settings" in obj:
        return obj["settings"]
    from etl.config import load_settings

    return load_settings()


def _progress():
    import time

    start = time.monotonic()
    return lambda message: console.print(f"[dim]{time.monotonic() - start:7.1f}s[/dim] {message}")


def _spark(settings, name: str):
    from etl.spark import build_session

    return build_session(settings, f"iiap-index-{name}")


@index.command("release")
@click.option(
    "--config", "config_path", type=_FILE, default=None, help="Release config (default: conf/indices/release.yaml)."
)
@click.option(
    "--economy-run",
    default=None,
    metavar="RUN_ID",
    help=(
        "The iiap economy run whose tables feed the economic-benefit indicators (default: "
        "the tables as they are now, the latest run)."
    ),
)
@click.pass_obj
def release_cmd(obj, config_path: Path | None, economy_run: str | None) -> None:
    """Build the indicators from the lakehouse, compute every released index; one MLflow run."""
    from analytics.index.indicators import ExternalIndicatorError
    from etl.lease import LakehouseBusy, LeaseLost
    from jobs import index_release as job

    settings = _settings(obj)
    try:
        result = job.run(
            _spark(settings, "release"), settings, config_path, progress=_progress(), economy_run=economy_run
        )
    except (ConfigError, ExternalIndicatorError) as exc:
        raise click.ClickException(f"invalid release input:\n{exc}") from None
    except (job.MissingInput, IndexDataError, LakehouseBusy, LeaseLost) as exc:
        raise click.ClickException(str(exc)) from None
    print_release(result, settings)


def print_release(result, settings) -> None:
    from analytics.tracking import tracking_uri

    for note in result.notes:
        console.print(f"[yellow]note[/yellow] {note}")
    c = result.classification
    console.print(
        f"period {result.period}; classification {c['rule_set']} {c['window_start']}..{c['window_end']} (run "
        f"{c['run_id']})"
    )
    if result.economy:
        console.print(f"economic accounting: run {result.economy['run_id']}")
    console.print("inputs: " + ", ".join(f"{k}@v{v}" for k, v in result.input_versions.items()))
    for spec_id, top in result.top.items():
        m = result.metrics
        console.print(
            f"{spec_id}: {int(m[f'{spec_id}.units_ranked'])}/{int(m[f'{spec_id}.units'])} units ranked, "
            f"mean coverage {m[f'{spec_id}.coverage_mean']:.2f}; top " + ", ".join(f"{u} {s:.2f}" for u, s in top)
        )
    console.print(f"MLflow run {result.run_id} at {tracking_uri(settings)}")
    console.print(f"artifacts: {result.artifact_uri} ({len(result.tables)} tables, charts/)")


@index.command("reproduce")
@click.argument("run_id")
@click.pass_obj
def reproduce_cmd(obj, run_id: str) -> None:
    """Recompute release RUN_ID from its recorded Delta versions and files; exit 1 unless every table is identical."""
    from analytics.index.indicators import ExternalIndicatorError
    from jobs import index_release as job

    settings = _settings(obj)
    try:
        result = job.reproduce(_spark(settings, "reproduce"), settings, run_id, progress=_progress())
    except (job.ReproductionError, job.MissingInput, ConfigError, ExternalIndicatorError, IndexDataError) as exc:
        raise click.ClickException(str(exc)) from None
    if result.git_revision_then != result.git_revision_now:
        console.print(
            f"[yellow]note[/yellow] code revision then {result.git_revision_then}, now {result.git_revision_now}"
        )
    if result.identical:
        console.print(
            f"[green]identical[/green]: {len(result.tables)} table(s) of run {run_id} recomputed from "
            + ", ".join(f"{k}@v{v}" for k, v in result.input_versions.items())
        )
        return
    for m in result.mismatches:
        console.print(f"[red]differs[/red] {m.table}: {m.detail}")
    raise SystemExit(1)


@index.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write every row (changed or not) to this CSV.",
)
@click.option("--all", "show_all", is_flag=True, help="Print unchanged units too.")
@click.pass_obj
def diff_cmd(obj, run_a: str, run_b: str, output: Path | None, show_all: bool) -> None:
    """Rank and score changes per index and unit from release RUN_A to RUN_B (rank change > 0: fell)."""
    from jobs import index_release as job

    try:
        changes = job.diff(_settings(obj), run_a, run_b)
    except job.ReproductionError as exc:
        raise click.ClickException(str(exc)) from None
    changed = changes[(changes["score_change"].fillna(1) != 0) | (changes["rank_change"].fillna(1) != 0)]
    shown = changes if show_all else changed
    _print(shown, f"{run_a} -> {run_b}: {len(changed)} of {len(changes)} unit(s) changed")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        changes.to_csv(output, index=False)
        console.print(f"wrote {output}")
