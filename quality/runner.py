"""Run a table's suite with Great Expectations, record it, and decide the gates.

One file-backed GE context per lakehouse (under `<lakehouse>/_quality/gx`, never in
git): suites are rebuilt from conf/quality.yaml on every run, validation results
accumulate, and Data Docs are rebuilt after each validation as the static site the
data-quality team reads. Every outcome is also appended to ops/quality_history.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage reports from batch jobs

import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from etl import lake  # noqa: E402
from etl.catalog import Tables, entry  # noqa: E402
from etl.config import Settings  # noqa: E402
from etl.spark import local_frame  # noqa: E402
from quality.context import RuleContext  # noqa: E402
from quality.forms import duplicate_key_samples, expectations, with_judged_columns, with_key_counts  # noqa: E402
from quality.spec import QualitySpec, Rule, quality_context_root  # noqa: E402

log = logging.getLogger(__name__)
DATASOURCE = "lakehouse"


@dataclass(frozen=True)
class Outcome:
    """What one expectation of one rule found in one batch."""

    suite: str
    rule: str
    column: str | None
    action: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    samples: tuple[str, ...] = ()
    observed: dict[str, float] = field(default_factory=dict)
    fail_above_percent: float | None = None

    @property
    def gate_breached(self) -> bool:
        if self.action == "fail":
            return not self.success
        if self.fail_above_percent is not None and self.unexpected_percent is not None:
            return self.unexpected_percent > self.fail_above_percent
        return False

    def describe(self, batch_id: str) -> str:
        where = f"{self.suite}.{self.rule}" + (f" on {self.column}" if self.column else "")
        how = (
            f"{self.unexpected_count:,} of {self.element_count:,} rows ({self.unexpected_percent:.2f}%)"
            if self.unexpected_count is not None and self.element_count is not None
            else "breached"
        )
        limit = (
            f", gate at {self.fail_above_percent}%"
            if self.action != "fail" and self.fail_above_percent is not None
            else ""
        )
        return (
            f"rule {self.rule} ({self.action}{limit}) failed on table {self.suite} in batch {batch_id}: {how} [{where}]"
        )


class QualityGateFailed(RuntimeError):
    """A `fail` rule (or a rule past its fail_above_percent) was breached: the batch stops."""

    def __init__(self, batch_id: str, breaches: list[Outcome]):
        self.batch_id, self.breaches = batch_id, breaches
        lines = "\n".join(f"  - {o.describe(batch_id)}" for o in breaches)
        super().__init__(f"data-quality gate stopped batch {batch_id}; downstream tables were not written:\n{lines}")


@contextmanager
def _session_conf(spark: SparkSession, conf: dict[str, str]):
    """Set runtime SQL confs for a block, then put back what was there."""
    before = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _sample(values) -> tuple[str, ...]:
    """Unexpected values as text; a missing value is no sample (the count says how many)."""
    return tuple(str(v) for v in (values or []) if v is not None)


def unexpected_values(batch, configs: list, n: int) -> list[list]:
    """Up to n unexpected values of each (map) expectation on `batch`, as GE's BASIC result would list them.

    The expectation states its own metric dependencies for that result format; of them only the one ending in
    `.unexpected_values` is resolved, so the unexpected counts (one aggregation over the batch) are not computed
    again. GE's Validator is the engine-level API that resolves named metrics on loaded batches.
    """
    from great_expectations.validator.validator import Validator as MetricResolver

    engine = batch.data.execution_engine
    resolver = MetricResolver(execution_engine=engine, data_context=batch.datasource.data_context, batches=[batch])
    runtime = {"result_format": {"result_format": "BASIC", "partial_unexpected_count": n}}
    metrics = []
    for config in configs:
        bound = copy.deepcopy(config)
        bound.kwargs.update({"batch_id": batch.id})
        expectation = bound.to_domain_obj()
        deps = expectation.get_validation_dependencies(execution_engine=engine, runtime_configuration=runtime)
        metric = deps.get_metric_configuration(f"{getattr(expectation, 'map_metric', None)}.unexpected_values")
        if metric is None:
            raise TypeError(f"{config.type} is not a map expectation: it has no unexpected values to sample")
        metrics.append(metric)
    resolved, aborted = resolver.compute_metrics(metrics, runtime_configuration=None)
    if aborted:
        raise RuntimeError(f"Great Expectations could not sample unexpected values: {sorted(map(str, aborted))}")
    return [list(resolved[m.id])[:n] for m in metrics]


def open_project(root: str):
    """The lakehouse's file-backed GE project, without a config-variables file: iiap keeps no variables in it, and GE
    reads and parses that YAML again on every access to a context variable (347 times, 1.2 s, in an ingest of four
    files). A new project is saved that way and opened again; an existing one opens without it."""
    context = gx.get_context(mode="file", project_root_dir=root)
    if context.variables.config_variables_file_path is None:
        return context
    context.variables.config_variables_file_path = None
    context.variables.save()
    return gx.get_context(mode="file", project_root_dir=root)


class Validator:
    """Validates DataFrames against the suites of conf/quality.yaml for one batch."""

    def __init__(
        self,
        spark: SparkSession,
        spec: QualitySpec,
        ctx: RuleContext,
        context_root: str,
        history_path: str,
        batch_id: str,
        run_kind: str,
    ):
        self.spark, self.spec, self.ctx = spark, spec, ctx
        self.history_path, self.batch_id, self.run_kind = history_path, batch_id, run_kind
        os.makedirs(context_root, exist_ok=True)
        self.gx = open_project(context_root)
        self.gx.variables.progress_bars = ProgressBarsConfig(globally=False)
        # persist=False: GE would otherwise cache every validated frame whole (every column, raw
        # records included), never release it, and pay a full materialisation per suite; the
        # frames handed to it are staged Parquet or already cached, and each metric query reads
        # only the columns it needs.
        self.datasource = self.gx.data_sources.add_or_update_spark(name=DATASOURCE, persist=False)
        self.outcomes: list[Outcome] = []
        self.docs_index: str | None = None
        self.seconds = 0.0  # wall time spent in GE (validation, results, Data Docs)
        self.timings: dict[str, tuple[float, int]] = {}  # suite (or "data_docs") -> (seconds, Spark jobs run)
        self._calls = itertools.count()
        self._results: list = []  # validation result ids of this run, for Data Docs

    @classmethod
    def for_run(
        cls, spark: SparkSession, settings: Settings, spec: QualitySpec, batch_id: str, run_kind: str
    ) -> Validator:
        """The validator of one run of a job: the lakehouse's GE project and history table, the rules' context from
        conf/."""
        root = quality_context_root(settings, spec)
        return cls(
            spark, spec, RuleContext.from_settings(settings), root, Tables(settings).quality_history, batch_id, run_kind
        )

    def validate(
        self,
        suite_name: str,
        frame: DataFrame,
        rules: tuple[Rule, ...],
        observed: dict[str, dict[str, float]] | None = None,
        routed: bool = False,
    ) -> list[Outcome]:
        """Validate `frame` (staged or cached: GE reads it once per metric group, and once per sample) against `rules`.

        `routed`: the frame went through quality.routing, so row rules are judged in
        precedence order (see quality.forms.expectations).
        """
        planned = [(rule, expectations(rule, self.ctx, routed)) for rule in rules]
        planned = [(rule, exps) for rule, exps in planned if exps]
        if not planned:
            return []
        chosen = tuple(rule for rule, _ in planned)
        frame = with_key_counts(frame, chosen)
        if routed:
            frame = with_judged_columns(frame, chosen, self.ctx)
        with self._timed(suite_name):
            return self._validate(suite_name, frame, planned, observed, routed)

    @contextmanager
    def _timed(self, name: str):
        """Wall time and Spark jobs spent under `name`, so a slow suite can be found in the benchmark."""
        sc = self.spark.sparkContext
        # one group per call: Spark's tracker keeps a group's jobs, so a suite validated twice would count twice
        group = f"iiap-quality-{self.batch_id}-{name}-{next(self._calls)}"
        sc.setJobGroup(group, f"data quality: {name}")
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self.seconds += spent
            before = self.timings.get(name, (0.0, 0))
            self.timings[name] = (before[0] + spent, before[1] + len(sc.statusTracker().getJobIdsForGroup(group)))
            sc.setLocalProperty("spark.jobGroup.id", None)
            sc.setLocalProperty("spark.job.description", None)

    def _validate(
        self,
        suite_name: str,
        frame: DataFrame,
        planned: list,
        observed: dict[str, dict[str, float]] | None,
        routed: bool,
    ) -> list[Outcome]:
        suite = gx.ExpectationSuite(
            name=suite_name, meta={"source": "conf/quality.yaml"}, expectations=[e for _, exps in planned for e in exps]
        )
        # add_or_update: a suite, definition or checkpoint an earlier run stored under the name is replaced
        suite = self.gx.suites.add_or_update(suite)
        by_rule = {rule.name: rule for rule, _ in planned}
        asset_names = {a.name for a in self.datasource.assets}
        asset = (
            self.datasource.get_asset(suite_name)
            if suite_name in asset_names
            else self.datasource.add_dataframe_asset(name=suite_name)
        )
        batch_def = next(
            (b for b in asset.batch_definitions if b.name == "batch"), None
        ) or asset.add_batch_definition_whole_dataframe("batch")
        definition = self.gx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite)
        )
        checkpoint = self.gx.checkpoints.add_or_update(
            gx.Checkpoint(
                name=suite_name,
                validation_definitions=[definition],
                # BASIC: counts, and samples (below); SUMMARY would add a value-count job per failing expectation.
                # No sample here: GE would query one per expectation, passing or not (LIMIT 0 runs no job).
                result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frame}, run_id=gx.RunIdentifier(run_name=f"{self.batch_id}")
        )
        for key, validation in result.run_results.items():
            if self._add_samples(batch_def, frame, validation):
                self.gx.validation_results_store.set(key, validation)  # what Data Docs shows carries the samples
        self._results += list(result.run_results)
        outcomes: list[Outcome] = []
        for validation in result.run_results.values():
            for r in validation.results:
                meta = r.expectation_config.meta or {}
                rule = by_rule[meta["rule"]]
                res = r.result or {}
                judged = res.get("element_count")
                key_count = bool(meta.get("key_count"))
                if (
                    (routed and rule.is_row_rule) or key_count
                ) and judged is not None:  # rows the rule judged: the rest are masked to NULL
                    judged -= res.get("missing_count") or 0
                if key_count:  # the sample GE saw is of counts; the repeated keys tell more
                    samples = () if r.success else duplicate_key_samples(frame, rule, self.spec.unexpected_samples)
                else:
                    samples = () if meta.get("presence") else _sample(res.get("partial_unexpected_list"))
                outcomes.append(
                    Outcome(
                        suite=suite_name,
                        rule=rule.name,
                        column=meta.get("column"),
                        action=rule.action,
                        success=bool(r.success),
                        element_count=judged,
                        unexpected_count=res.get("unexpected_count"),
                        unexpected_percent=res.get("unexpected_percent"),
                        samples=samples,
                        observed=(observed or {}).get(rule.name, {}),
                        fail_above_percent=rule.fail_above_percent,
                    )
                )
        self.outcomes += outcomes
        return outcomes

    def _add_samples(self, batch_def, frame: DataFrame, validation) -> bool:
        """Put a sample of unexpected values into each result that found some: a sample costs a query, and most
        expectations find nothing. Only GE's `unexpected_values` metric of those expectations is resolved (a filter
        and a LIMIT each); their counts are the checkpoint's. True if any was added."""
        wanted = [
            r
            for r in validation.results
            if (r.result or {}).get("unexpected_count")
            and not (r.expectation_config.meta or {}).get("presence")
            and not (r.expectation_config.meta or {}).get("key_count")
        ]
        if not wanted or not self.spec.unexpected_samples:
            return False
        # A sample is a filter + LIMIT; Spark scans a LIMIT one partition, then 4, 16, ... in separate jobs until it
        # has enough rows. Starting with every partition makes each sample one job (each task stops at the limit).
        partitions = str(max(1, frame.rdd.getNumPartitions()))
        with _session_conf(self.spark, {"spark.sql.limit.initialNumPartitions": partitions}):
            found = unexpected_values(
                batch_def.get_batch(batch_parameters={"dataframe": frame}),
                [r.expectation_config for r in wanted],
                self.spec.unexpected_samples,
            )
        for r, values in zip(wanted, found, strict=True):
            r.result["partial_unexpected_list"] = values
        return True

    def breaches(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.gate_breached]

    def history_rows(self, at: datetime | None = None) -> DataFrame:
        at = at or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        rows = [
            (
                self.batch_id,
                self.run_kind,
                o.suite,
                o.rule,
                o.column,
                o.action,
                o.success,
                o.gate_breached,
                o.element_count,
                o.unexpected_count,
                None if o.unexpected_percent is None else float(o.unexpected_percent),
                list(o.samples),
                {k: float(v) for k, v in o.observed.items()} or None,
                at,
            )
            for o in self.outcomes
        ]
        return local_frame(self.spark, rows, entry("ops.quality_history").struct())

    def record(self) -> None:
        """Append this run's outcomes to ops/quality_history and add its pages to the Data Docs site."""
        if self.outcomes:
            lake.append(self.history_rows(), self.history_path)
        if self._results:
            with self._timed("data_docs"):
                self.gx.build_data_docs(resource_identifiers=self._results)
        sites = self.gx.get_docs_sites_urls()
        self.docs_index = sites[0]["site_url"] if sites else None


def previous_observations(
    spark: SparkSession, history_path: str, suite: str, rule: str, before_batch: str
) -> DataFrame:
    """The `observed` entries of a rule from earlier batches of an ingest, newest batch last."""
    if not lake.exists(spark, history_path):
        return local_frame(spark, [], "batch_id string, key string, value double, validated_at timestamp")
    h = lake.read(spark, history_path).filter(
        (F.col("suite") == suite)
        & (F.col("rule") == rule)
        & (F.col("batch_id") != before_batch)
        & F.col("observed").isNotNull()
    )
    return h.select("batch_id", "validated_at", F.explode("observed").alias("key", "value")).select(
        "batch_id", "key", "value", "validated_at"
    )
