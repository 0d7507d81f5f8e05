"""The `iiap` command: one subcommand per batch job."""

from __future__ import annotations

import importlib
import logging
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from etl.config import JIT_MODES, PROJECT_ROOT, load_generator, load_settings
from etl.model import ConfigError

console = Console(stderr=True)


class BadConfig(click.ClickException):
    """A configuration error: named file and key, exit code 2 like a usage error, no traceback."""

    exit_code = 2


def _progress():
    start = time.monotonic()

    def report(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - start:7.1f}s[/dim] {message}")

    return report


def _session(settings, name: str, extra_conf: dict[str, str] | None = None):
    from etl.spark import build_session

    return build_session(settings, f"iiap-{name}", extra_conf)


class _LazyGroup(click.Group):
    """Subcommands imported only when run or listed: `iiap index` pulls in pandas and scipy (5 s), which no Spark job
    needs."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self._lazy:
            module, attr = self._lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


# `iiap index compute|audit`: the index engine needs no Spark and no lakehouse
@click.group(
    cls=_LazyGroup, lazy={"index": "jobs.index_cli:index"}, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option(
    "--conf",
    "conf_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Configuration folder (default: ./conf).",
)
@click.option("--profile", default="local", show_default=True, help="Environment profile in conf/profiles.")
@click.option("--lakehouse", default=None, help="Lakehouse root (path or URI); overrides conf/pipeline.yaml.")
@click.option("--landing", default=None, help="Landing root (path or URI); overrides conf/pipeline.yaml.")
@click.pass_context
def main(ctx: click.Context, conf_dir: Path | None, profile: str, lakehouse: str | None, landing: str | None) -> None:
    """iiap: the industrial-internet analytics platform's batch jobs."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        ctx.obj = {
            "settings": load_settings(conf_dir, profile, lakehouse_root=lakehouse, landing_root=landing),
            "conf_dir": conf_dir,
        }
    except ConfigError as exc:
        raise BadConfig(f"invalid configuration:\n{exc}") from None


@main.command()
@click.option("--scale", type=float, default=0.001, show_default=True, help="1 = about 10.85M enterprises.")
@click.option("--seed", type=int, default=20200630, show_default=True)
@click.option(
    "--out",
    default="data",
    show_default=True,
    help="Writes OUT/landing (the deliveries) and OUT/truth (the ground truth).",
)
@click.option(
    "--passes",
    "passes_spec",
    default=None,
    metavar="LIST",
    help=(
        "Only these passes of enterprises, e.g. 0-4 or 0,3,7 (scale 1 has ten, 0-9); "
        "later runs add the others to the same --out. Default: all."
    ),
)
@click.option(
    "--jit",
    type=click.Choice(JIT_MODES),
    default="auto",
    show_default=True,
    help=(
        "The driver JVM's compiler: quick (C1 only) starts fast, optimizing (C1+C2) runs big data fast; "
        "auto picks quick up to the profile's quick_start.max_scale."
    ),
)
@click.pass_obj
def generate(obj, scale: float, seed: int, out: str, passes_spec: str | None, jit: str) -> None:
    """Write what the 34 platforms would deliver, with known faults and the ground truth."""
    from jobs import generate as job

    if scale <= 0:
        raise click.BadParameter("must be positive", param_hint="--scale")
    try:
        passes = None if passes_spec is None else job.parse_passes(passes_spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--passes") from None
    settings = obj["settings"]
    try:
        gen = load_generator(obj["conf_dir"])
    except ConfigError as exc:
        raise BadConfig(f"invalid configuration:\n{exc}") from None
    from etl.spark import quick_start_conf

    try:
        extra = quick_start_conf(settings.profile, scale, jit, settings.profile_name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--jit") from None
    spark = _session(settings, "generate", extra)
    try:
        result = job.run(spark, settings, gen, scale, seed, settings.path(out), progress=_progress(), passes=passes)
    except job.PassOutOfRange as exc:
        raise click.BadParameter(str(exc), param_hint="--passes") from None
    except job.OutputExists as exc:
        raise click.ClickException(str(exc)) from None
    m = result.manifest
    written = ", ".join(f"{k:02d}" for k in m["passes_written"])
    console.print(
        f"{result.files:,} files written; OUT now holds passes {written} of "
        f"{m['passes']}{'' if m['complete'] else ' (not complete)'}"
    )
    console.print(f"[bold]{m['enterprises']:,}[/bold] enterprises ({m['effective']:,} effective), {m['files']:,} files")
    console.print(f"landing: {result.landing}\ntruth:   {result.truth}/manifest.json")


def _print_ingest(result) -> None:
    bad = sum(result.quarantined_files.values())
    table = Table(
        title=f"batch {result.batch_id}: {result.files} new files ({bad} quarantined as files, "
        f"{result.resent} identical to deliveries already recorded)"
    )
    columns = ("feed", "files", "files quarantined", "rows read", "inserted", "updated", "quarantined", "duplicates")
    for col in (*columns, "reconciled"):
        table.add_column(col, justify="right" if col not in ("feed",) else "left")
    for feed, c in result.feeds.items():
        table.add_row(
            feed,
            f"{c.files:,}",
            f"{c.files_quarantined:,}",
            f"{c.rows_read:,}",
            f"{c.new:,}",
            f"{c.update:,}",
            f"{c.quarantine:,}",
            f"{c.duplicates:,}",
            "yes" if c.reconciled else "NO",
        )
    Console(width=max(Console().width, 130)).print(table)
    if result.quarantined_files:
        reasons = ", ".join(f"{code} {n}" for code, n in result.quarantined_files.items())
        console.print(f"files quarantined whole: {reasons} (quarantine/records, ops/file_manifest; README)")


def _print_quality(outcomes, docs: str | None) -> None:
    """Rules that found something, and where the Data Docs are."""
    flagged = [o for o in outcomes if o.unexpected_count or not o.success]
    table = Table(title=f"data quality: {len(outcomes)} expectations, {len(flagged)} found something")
    for col in ("table", "rule", "column", "action", "unexpected", "%", "result"):
        table.add_column(col, justify="right" if col in ("unexpected", "%") else "left")
    for o in flagged:
        verdict = "GATE" if o.gate_breached else ("ok" if o.success else "breached")
        pct = "" if o.unexpected_percent is None else f"{o.unexpected_percent:.3f}"
        table.add_row(o.suite, o.rule, o.column or "", o.action, f"{o.unexpected_count or 0:,}", pct, verdict)
    Console(width=max(Console().width, 110)).print(table)
    if docs:
        console.print(f"data docs: {docs}")


@main.command()
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only deliveries up to this date (simulates a daily run).",
)
@click.option("--recover", is_flag=True, help="Roll back an earlier batch that did not finish, then ingest.")
@click.option(
    "--retry",
    "retry",
    multiple=True,
    metavar="PATH",
    help="Read a file quarantined earlier again as it is (repeatable; a path as listed or under the landing root).",
)
@click.option(
    "--rotate-key",
    is_flag=True,
    help="The pseudonymisation key deliberately replaces the one of the lakehouse's earlier batches.",
)
@click.pass_obj
def ingest(obj, until, recover: bool, retry: tuple[str, ...], rotate_key: bool) -> None:
    """Ingest new landing files into bronze and silver, with quarantine, audit and reconciliation."""
    from etl.pseudonym import MissingKey
    from jobs import ingest as job
    from quality.runner import QualityGateFailed

    settings = obj["settings"]
    quality = _quality_spec(settings)
    spark = _session(settings, "ingest")
    try:
        result = job.run(
            spark,
            settings,
            until.date() if until else None,
            recover,
            progress=_progress(),
            quality=quality,
            retry=frozenset(retry),
            rotate_key=rotate_key,
        )
    except QualityGateFailed as exc:
        raise click.ClickException(
            f"{exc}\nsee ops/quality_history and the Data Docs under {_docs_root(settings, quality)}"
        ) from None
    except job.BadRetry as exc:
        raise click.UsageError(str(exc)) from None
    except (
        MissingKey,
        job.KeyChanged,
        job.IncompleteBatch,
        job.ReconciliationError,
        FileNotFoundError,
        *_busy(),
    ) as exc:
        raise click.ClickException(str(exc)) from None
    if result.batch_id is None:
        console.print("no new files to ingest")
        return
    _print_ingest(result)
    _print_quality(result.quality, result.quality_docs)
    console.print(f"lakehouse: {settings.lakehouse}")


def _busy() -> tuple[type[Exception], ...]:
    """Another job holds the lakehouse, or took this run's lease over (etl/lease.py): one line, exit 1."""
    from etl.lease import LakehouseBusy, LeaseLost

    return LakehouseBusy, LeaseLost


def _quality_spec(settings):
    """conf/quality.yaml, and where its GE project goes, checked before Spark starts and any table is written."""
    from quality.spec import load_quality, quality_context_root

    try:
        spec = load_quality(settings)
        quality_context_root(settings, spec)
        return spec
    except ConfigError as exc:
        raise BadConfig(f"invalid configuration:\n{exc}") from None


def _docs_root(settings, quality) -> str:
    from quality.spec import quality_context_root

    return quality_context_root(settings, quality)


@main.command()
@click.option("--batch", "batch_id", default=None, help="Batch id (default: the latest committed batch).")
@click.pass_obj
def quality(obj, batch_id: str | None) -> None:
    """Validate an ingested batch against conf/quality.yaml on its own; exits 1 when a gate is breached."""
    from etl.pseudonym import MissingKey
    from jobs import quality as job

    settings = obj["settings"]
    spec = _quality_spec(settings)
    spark = _session(settings, "quality")
    try:
        result = job.run(spark, settings, batch_id, progress=_progress(), quality=spec)
    except (MissingKey, job.UnknownBatch, *_busy()) as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"batch {result.batch_id}")
    _print_quality(result.outcomes, result.docs)
    if result.breaches:
        lines = "\n".join(f"  - {o.describe(result.batch_id)}" for o in result.breaches)
        raise click.ClickException(f"data-quality gate breached in batch {result.batch_id}:\n{lines}")


@main.command()
@click.option("--rule-set", default=None, help="Rule set in conf/classification.yaml (default: its default_rule_set).")
@click.option(
    "--truth", default=None, help="Ground-truth folder of iiap generate (OUT/truth): report precision and recall."
)
@click.pass_obj
def classify(obj, rule_set: str | None, truth: str | None) -> None:
    """Label effective enterprises, count them by province, sector, sub-industry and platform; one MLflow run."""
    from analytics.rule_sets import load_classification
    from jobs import classify as job
    from quality.runner import QualityGateFailed

    settings = obj["settings"]
    try:
        spec = load_classification(settings)
        spec.rule_set(rule_set)
    except ConfigError as exc:
        raise BadConfig(f"invalid configuration:\n{exc}") from None
    quality = _quality_spec(settings)
    spark = _session(settings, "classify")
    try:
        truth = settings.path(truth) if truth else None
        result = job.run(spark, settings, spec, rule_set, truth, progress=_progress(), quality=quality)
    except QualityGateFailed as exc:
        raise click.ClickException(f"{exc}\nsee ops/quality_history and the Data Docs") from None
    except (job.MissingInput, *_busy()) as exc:
        raise click.ClickException(str(exc)) from None
    _print_classify(result)
    _print_quality(result.quality, result.quality_docs)
    console.print(f"MLflow run {result.run_id} at {_tracking(settings)}")


def _tracking(settings) -> str:
    from analytics.tracking import tracking_uri

    return tracking_uri(settings)


def _print_classify(result) -> None:
    out = Console(width=max(Console().width, 110))
    title = (
        f"{result.rule_set}, {result.window.start}..{result.window.end}: "
        f"{result.effective:,} of {result.connected:,} connected enterprises effective"
    )
    table = Table(title=title)
    for col in ("dimension", "key", "connected", "effective", "access ratio"):
        table.add_column(col, justify="left" if col in ("dimension", "key") else "right")
    for c in result.counts:
        if c["dimension"] in ("national", "province"):
            ratio = "" if c["access_ratio"] is None else f"{c['access_ratio']:.1%}"
            table.add_row(c["dimension"], c["key"], f"{c['connected']:,}", f"{c['effective']:,}", ratio)
    out.print(table)
    if result.evaluation:
        e = result.evaluation
        out.print(
            f"against the ground truth: precision {e['precision']:.4f}, recall {e['recall']:.4f} "
            f"(TP {e['true_positive']:,}, FP {e['false_positive']:,}, FN {e['false_negative']:,})"
        )
    out.print("inputs: " + ", ".join(f"{k}@v{v}" for k, v in result.input_versions.items()))


@main.command()
@click.pass_obj
def reference(obj) -> None:
    """Load the reference tables (platforms, provinces, sections, sub-industries, apps) into Delta."""
    from jobs import reference as job

    settings = obj["settings"]
    for name, state in job.run(_session(settings, "reference"), settings).items():
        console.print(f"{name}: {state}")


@main.command()
@click.option("--out", default="dist", show_default=True, help="Folder to (re)write.")
@click.pass_obj
def package(obj, out: str) -> None:
    """Build what spark-submit needs: the code zip, the entry point, conf/ as a zip, Delta's jars (README)."""
    from analytics.tracking import git_revision
    from etl.jars import JarsMissing, resolved_jars
    from jobs.package import build

    settings = obj["settings"]
    try:
        jars = resolved_jars(settings.jars)
    except JarsMissing as exc:
        raise click.ClickException(str(exc)) from None
    built = build(PROJECT_ROOT, settings.conf_dir, jars, Path(settings.path(out)), git_revision())
    jars = [name for name in built.files if name.startswith("jars/")]
    for name, digest in built.files.items():
        if not name.startswith("jars/"):
            console.print(f"{digest[:12]}  {built.folder / name}", soft_wrap=True)
    console.print(f"{len(jars)} jars in {built.folder / 'jars'}; spark-submit commands: README, On a cluster")


@main.command()
@click.pass_obj
def setup(obj) -> None:
    """Fetch Delta Lake's jars from Maven Central into ./jars (once; later runs are offline)."""
    from etl.jars import fetch

    for path in fetch(obj["settings"].jars):
        console.print(path)


@main.command()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (default: conf/economy/economy.yaml); its input CSVs are beside it.",
)
@click.pass_obj
def economy(obj, config: Path | None) -> None:
    """IIoT value added (direct, penetration) by year, section, three sectors, province; employment; one MLflow run."""
    from jobs import economy as job

    settings = obj["settings"]
    try:
        job.load(settings, config)
    except ConfigError as exc:
        raise click.ClickException(f"invalid economy inputs:\n{exc}") from None
    try:
        result = job.run(_session(settings, "economy"), settings, config, progress=_progress())
    except _busy() as exc:
        raise click.ClickException(str(exc)) from None
    _print_economy(result, settings)


def _print_economy(result, settings) -> None:
    for row in result.national:
        console.print(
            f"{row['year']}: {row['total_va']:,.0f} 亿元 ({row['gdp_share']:.2%} of GDP;"
            f" direct {row['direct_va']:,.0f}, penetration {row['penetration_va']:,.0f});"
            f" employment {row['employment']:,.1f} 万人"
        )
    failed = [c for c in result.comparison if c["kind"] == "identity" and not c["holds"]]
    console.print(f"identities: {len(failed)} failed" + (" (DEMO inputs)" if result.demo else ""))
    console.print(f"MLflow run {result.run_id} at {_tracking(settings)}")


STAGE_OPTIONS = ("ingest", "classify", "economy", "release")  # jobs.run.STAGES, without importing Spark for --help


@main.command("run")
@click.option(
    "--from",
    "first",
    type=click.Choice(STAGE_OPTIONS),
    default=None,
    help="First stage (default: ingest, or where the last run stopped if it did not finish).",
)
@click.option("--to", "last", type=click.Choice(STAGE_OPTIONS), default="release", show_default=True)
@click.option("--fresh", is_flag=True, help="Start a new run even if the last one did not finish.")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="ingest: only deliveries up to this date.",
)
@click.option("--recover", is_flag=True, help="ingest: roll back a batch a crash left unfinished, then ingest.")
@click.option("--rotate-key", is_flag=True, help="ingest: the pseudonymisation key deliberately changed.")
@click.option("--rule-set", default=None, help="classify: rule set (default: conf/classification.yaml's).")
@click.option("--truth", default=None, help="classify: ground-truth folder (OUT/truth) for precision and recall.")
@click.option(
    "--economy-config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="economy: settings file."
)
@click.option(
    "--release-config", type=click.Path(dir_okay=False, path_type=Path), default=None, help="release: config file."
)
@click.option("--summary", "summary_file", default=None, help="Also write the run summary (JSON) to this local file.")
@click.pass_context
def run(
    ctx: click.Context,
    first: str | None,
    last: str,
    fresh: bool,
    until,
    recover: bool,
    rotate_key: bool,
    rule_set: str | None,
    truth: str | None,
    economy_config: Path | None,
    release_config: Path | None,
    summary_file: str | None,
) -> None:
    """The day's batch: ingest, classify, economy, index release in one Spark session under one lease.

    Exit codes: 0 done; 1 unexpected failure; 2 configuration error; 3 data-quality gate; 4 lakehouse busy
    (an overlapping run refused); 5 blocked (an operator must --recover, --rotate-key, or supply an input).
    Run again after a failure and it resumes at the stage that failed. The JSON summary is written to
    LAKEHOUSE/_runs/RUN_ID/attempt-N.json (and to --summary)."""
    from etl.pseudonym import MissingKey
    from jobs import run as job

    settings = ctx.obj["settings"]
    options = job.RunOptions(
        first or job.STAGES[0],
        last,
        first is not None,
        fresh,
        until.date() if until else None,
        recover,
        rotate_key,
        rule_set,
        truth,
        economy_config,
        release_config,
    )
    try:
        options.stages()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        configs = job.validate(settings, options)
    except (ConfigError, MissingKey) as exc:
        raise BadConfig(f"invalid configuration:\n{exc}") from None
    summary = job.run(
        _session(settings, "run"),
        settings,
        options,
        configs,
        progress=_progress(),
        on_stage=lambda stage, result: _print_stage(stage, result, settings),
        summary_file=summary_file,
    )
    if summary.error:
        e = summary.error
        if "traceback" in e:
            console.print(e["traceback"], markup=False)
        console.print(f"[red]run {summary.run_id} stopped in stage {e['stage']} ({e['kind']}):[/red]")
        console.print(e["message"], markup=False)
    else:
        console.print(f"run {summary.run_id} done (attempt {summary.attempt})")
    if summary.spark.get("event_log_dir"):
        console.print(
            f"event log: {summary.spark['event_log_dir']} ({summary.spark['application_id']})", soft_wrap=True
        )
    console.print(f"summary: {summary.summary_path}", soft_wrap=True)  # one line, for a scheduler's log
    ctx.exit(summary.exit_code)


def _print_stage(stage: str, result, settings) -> None:
    if stage == "ingest":
        if result.batch_id is None:
            console.print("no new files to ingest")
        else:
            _print_ingest(result)
            _print_quality(result.quality, result.quality_docs)
    elif stage == "classify":
        _print_classify(result)
        _print_quality(result.quality, result.quality_docs)
        console.print(f"MLflow run {result.run_id} at {_tracking(settings)}")
    elif stage == "economy":
        _print_economy(result, settings)
    else:
        from jobs.index_cli import print_release

        print_release(result, settings)


if __name__ == "__main__":
    sys.exit(main())
