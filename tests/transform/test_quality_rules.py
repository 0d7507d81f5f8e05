"""Each rule check, on a small frame that breaks it and one that does not: routing and GE agree on the count."""

import json
import re
from datetime import datetime

import great_expectations as gx
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl.catalog import GOLD_TABLES
from etl.model import ConfigError
from quality.context import RuleContext
from quality.forms import broken, with_key_counts
from quality.references import MissingReferenceTable, with_found_flags
from quality.routing import route
from quality.runner import QualityGateFailed, Validator
from quality.spec import QualitySpec, Rule, load_quality

CTX = RuleContext(
    window_start_utc=datetime(2020, 5, 31, 16, 0),
    window_end_utc=datetime(2020, 6, 30, 16, 0),
    limits={"traffic_bytes": 100.0},
    reference_values={"platforms.platform_id": ("P01", "P02")},
)
GOOD_CODE, BAD_CHECK_CODE = "91350100M000100Y43", "91350100M000100Y44"

# (rule, schema, breaking rows, passing rows, expected broken count in the breaking rows)
CASES = {
    "not_null": (
        Rule(name="r", check="not_null", column="v", action="quarantine", doc="d"),
        "v string",
        [("a",), (None,), (None,)],
        [("a",), ("b",)],
        2,
    ),
    "is_null": (
        Rule(name="r", check="is_null", column="v", action="quarantine", doc="d"),
        "v string",
        [(None,), ("x",)],
        [(None,)],
        1,
    ),
    "between": (
        Rule(name="r", check="between", column="v", min=0, max=10, action="quarantine", doc="d"),
        "v double",
        [(-1.0,), (5.0,), (11.0,), (None,)],
        [(0.0,), (10.0,), (None,)],
        2,
    ),
    "between_max_from": (
        Rule(name="r", check="between", column="v", max_from="traffic_bytes", action="quarantine", doc="d"),
        "v double",
        [(100.5,), (3.0,)],
        [(100.0,)],
        1,
    ),
    "in_window": (
        Rule(name="r", check="in_window", column="v", action="quarantine", doc="d"),
        "v timestamp",
        [(datetime(2020, 5, 31, 15, 59, 59),), (datetime(2020, 6, 30, 16, 0),), (datetime(2020, 6, 1),)],
        [(datetime(2020, 5, 31, 16, 0),), (datetime(2020, 6, 30, 15, 59, 59),)],
        2,
    ),
    "not_after": (
        Rule(name="r", check="not_after", column="v", limit_column="lim", action="quarantine", doc="d"),
        "v long, lim long",
        [(5, 4), (4, 4), (None, 1), (9, None)],
        [(1, 2), (2, 2)],
        1,
    ),
    "in_set_reference": (
        Rule(name="r", check="in_set", column="v", reference="platforms.platform_id", action="quarantine", doc="d"),
        "v string",
        [("P99",), ("P01",), (None,)],
        [("P02",)],
        1,
    ),
    "in_set_values": (
        Rule(name="r", check="in_set", column="v", values=("a", "b"), action="quarantine", doc="d"),
        "v string",
        [("c",), ("",), ("a",)],
        [("b",)],
        2,
    ),
    "credit_code": (
        Rule(name="r", check="credit_code", column="v", action="quarantine", doc="d"),
        "v string",
        [(BAD_CHECK_CODE,), ("bad",), (GOOD_CODE,), ("",)],
        [(GOOD_CODE,), (None,)],
        3,
    ),
    "whole_number": (
        Rule(name="r", check="whole_number", column="v", action="quarantine", doc="d"),
        "v double",
        [(1.5,), (2.0,)],
        [(3.0,), (None,)],
        1,
    ),
    "columns_any": (
        Rule(name="r", check="not_null", columns=("a", "b"), action="quarantine", doc="d"),
        "a string, b string",
        [("x", None), (None, "y"), ("x", "y")],
        [("x", "y")],
        2,
    ),
}


@pytest.fixture
def validator(spark, tmp_path):
    spec = QualitySpec(unexpected_samples=3, context_root=None, suites={})
    return Validator(spark, spec, CTX, str(tmp_path / "gx"), str(tmp_path / "history"), "b1", "test")


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_breaking_and_passing_frames(spark, validator, case):
    rule, schema, breaking, passing, expected = CASES[case]
    bad = spark.createDataFrame(breaking, schema)
    good = spark.createDataFrame(passing, schema)

    routed_bad = route(bad, (rule,), CTX)
    assert routed_bad.filter(F.col("reason_code") == "r").count() == expected
    assert routed_bad.filter(F.col("reason_code").isNull()).count() == len(breaking) - expected
    assert route(good, (rule,), CTX).filter(F.col("reason_code").isNotNull()).count() == 0

    bad_outcomes = validator.validate(f"t.{case}.bad", bad, (rule,))
    good_outcomes = validator.validate(f"t.{case}.good", good, (rule,))
    assert sum(o.unexpected_count for o in bad_outcomes) == expected
    assert not all(o.success for o in bad_outcomes)
    assert all(o.success for o in good_outcomes)
    assert sum(o.unexpected_count or 0 for o in good_outcomes) == 0


def test_exists_in_flags_values_missing_from_a_lakehouse_table_without_collecting_them(spark, validator):
    rule = Rule(
        name="in_master",
        check="exists_in",
        column="code",
        table="silver.enterprise_master",
        key="credit_code",
        action="fail",
        doc="d",
    )
    master = spark.createDataFrame([("A",), ("B",), ("B",)], "credit_code string")
    frame = spark.createDataFrame([("A", 1), ("C", 2), ("C", 3), (None, 4), ("B", 5)], "code string, n int")
    flagged = with_found_flags(frame, (rule,), {"silver.enterprise_master": master})
    assert sorted((r.n, r["_in_master__code__found"]) for r in flagged.collect()) == [
        (1, True),
        (2, False),
        (3, False),
        (4, None),
        (5, True),
    ]
    assert flagged.filter(broken(rule, CTX)).count() == 2  # the routing condition agrees (NULL keys are not broken)
    (outcome,) = validator.validate("t.exists_in", flagged, (rule,))
    assert (outcome.success, outcome.unexpected_count, outcome.element_count, outcome.gate_breached) == (
        False,
        2,
        5,
        True,
    )
    with pytest.raises(
        MissingReferenceTable,
        match=r"rule in_master: table silver.enterprise_master is not available here \(have: none\)",
    ):
        with_found_flags(frame, (rule,), {})


def test_first_breaking_rule_wins_and_ge_counts_follow_precedence(spark, validator):
    # The unparseable row breaks both rules; it is quarantined, and counted, once.
    rules = (
        Rule(name="malformed_record", check="is_null", column="parse_error", action="quarantine", doc="d"),
        Rule(name="invalid_number", check="not_null", column="v", action="quarantine", doc="d"),
        Rule(name="too_big", check="between", column="v", max=10, action="warn", doc="d"),
    )
    df = spark.createDataFrame(
        [("bad line", None), (None, None), (None, 3.0), (None, 50.0)], "parse_error string, v double"
    )
    routed = route(df, rules, CTX)
    assert [r.reason_code for r in routed.orderBy("v", "parse_error").collect()] == [
        "invalid_number",
        "malformed_record",
        None,
        None,
    ]
    outcomes = {o.rule: o for o in validator.validate("t.precedence", routed, rules, routed=True)}
    assert (
        outcomes["malformed_record"].unexpected_count,
        outcomes["invalid_number"].unexpected_count,
        outcomes["too_big"].unexpected_count,
    ) == (1, 1, 1)
    assert outcomes["too_big"].element_count == 2  # warn rules judge the rows that go on
    assert not outcomes["too_big"].gate_breached


def test_a_null_condition_still_routes_the_row_to_exactly_one_side(spark):
    # NaN >= 0 is false, NULL limits are ignored as GE ignores them: every row is on one side.
    rules = (
        Rule(name="neg", check="between", column="v", min=0, action="quarantine", doc="d"),
        Rule(name="late", check="not_after", column="v", limit_column="lim", action="quarantine", doc="d"),
    )
    df = spark.createDataFrame(
        [(float("nan"), 1.0), (None, 1.0), (2.0, None), (5.0, 1.0), (0.5, 1.0)], "v double, lim double"
    )
    routed = route(df, rules, CTX)
    clean = routed.filter(F.col("reason_code").isNull()).count()
    parked = routed.filter(F.col("reason_code").isNotNull()).count()
    assert (clean, parked) == (3, 2)
    assert sorted(r.reason_code for r in routed.filter(F.col("reason_code").isNotNull()).collect()) == ["late", "late"]


def test_unique_rule_counts_repeated_keys_among_outcomes(spark, validator):
    rule = Rule(name="natural_key_unique", check="unique", columns=("k",), among=("new",), action="fail", doc="d")
    df = spark.createDataFrame(
        [("a", "new"), ("a", "new"), ("b", "new"), ("b", "duplicate"), ("c", "quarantine")], "k string, outcome string"
    )
    [o] = validator.validate("t.unique", df, (rule,))
    assert (o.success, o.element_count, o.unexpected_count, o.gate_breached, o.samples) == (False, 3, 2, True, ("a",))
    clean = spark.createDataFrame([("a", "new"), ("a", "duplicate")], "k string, outcome string")
    [ok] = validator.validate("t.unique.ok", clean, (rule,))
    assert (ok.success, ok.element_count, ok.unexpected_count, ok.samples) == (True, 1, 0, ())


def test_unique_rule_on_a_compound_key_ignores_only_rows_missing_every_column(spark, validator):
    rule = Rule(name="key_unique", check="unique", columns=("a", "b"), action="fail", doc="d")
    df = spark.createDataFrame(
        [("x", 1), ("x", 1), ("x", 2), ("y", None), ("y", None), (None, None), (None, None), (None, 3)],
        "a string, b int",
    )
    [o] = validator.validate("t.compound", df, (rule,))
    # (x,1) twice and (y,NULL) twice repeat; the two all-NULL keys are not judged
    assert (o.success, o.element_count, o.unexpected_count, o.samples) == (False, 6, 4, ("x|1", "y|NULL"))


def test_key_counts_are_null_on_rows_the_rule_does_not_judge(spark):
    rule = Rule(name="u", check="unique", columns=("k",), among=("new",), action="fail", doc="d")
    df = spark.createDataFrame(
        [("a", "new"), ("a", "new"), ("a", "duplicate"), (None, "new"), ("b", "new")], "k string, outcome string"
    )
    got = with_key_counts(df, (rule,))
    expected = spark.createDataFrame(
        [("a", "new", 2), ("a", "new", 2), ("a", "duplicate", None), (None, "new", None), ("b", "new", 1)],
        "k string, outcome string, _u__rows long",
    )
    assertDataFrameEqual(got, expected)
    assert with_key_counts(got, (rule,)).columns == got.columns  # a frame that has the count keeps it


def test_fail_above_percent_turns_a_quarantine_rule_into_a_gate(spark, validator):
    rule = Rule(name="bad_code", check="credit_code", column="v", action="quarantine", fail_above_percent=30, doc="d")
    trickle = spark.createDataFrame([(GOOD_CODE,)] * 3 + [("bad",)], "v string")
    flood = spark.createDataFrame([(GOOD_CODE,)] + [("bad",)] * 3, "v string")
    [t] = validator.validate("t.trickle", trickle, (rule,))
    [f] = validator.validate("t.flood", flood, (rule,))
    assert (t.unexpected_percent, t.gate_breached) == (25.0, False)
    assert (f.unexpected_percent, f.gate_breached) == (75.0, True)
    err = QualityGateFailed("b1", [f])
    assert "rule bad_code (quarantine, gate at 30.0%) failed on table t.flood in batch b1: 3 of 4 rows (75.00%)" in str(
        err
    )


def test_history_rows_and_data_docs_are_written(spark, validator, tmp_path):
    rule = Rule(name="r", check="not_null", column="v", action="warn", doc="d")
    validator.validate(
        "silver.t", spark.createDataFrame([("a",), (None,)], "v string"), (rule,), observed={"r": {"k": 2.0}}
    )
    validator.record()
    [row] = spark.read.format("delta").load(str(tmp_path / "history")).collect()
    assert (
        row.batch_id,
        row.run_kind,
        row.suite,
        row.rule,
        row.column,
        row.action,
        row.success,
        row.gate_breached,
    ) == ("b1", "test", "silver.t", "r", "v", "warn", False, False)
    assert (row.element_count, row.unexpected_count, row.unexpected_percent, row.observed) == (2, 1, 50.0, {"k": 2.0})
    assert validator.docs_index.startswith("file://") and validator.docs_index.endswith("index.html")
    # one page per validation: suite silver.t, run named after the batch
    pages = list((tmp_path / "gx").rglob("data_docs/local_site/validations/silver/t/b1/*/*.html"))
    assert len(pages) == 1
    text = " ".join(re.sub(r"<[^>]+>", " ", pages[0].read_text(encoding="utf-8")).split())
    assert "values must never be null. 1 unexpected values found. 50% of 2 total rows." in text
    assert "Run Name b1" in text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.replace("check: is_null,", "check: is_nul,", 1),
            "groups.structure[malformed_record]: rule malformed_record: unknown check 'is_nul' (known: between, "
            "columns, credit_code, exists_in, in_set, in_window, is_null, not_after, not_null, province_share, "
            "unique, volume, whole_number)",
        ),
        (
            lambda s: s.replace("max_from: traffic_bytes", "max_from: traffic_gigabytes"),
            "max_from: unknown limit 'traffic_gigabytes'",
        ),
        (
            lambda s: s.replace("- {include: event_time}", "- {include: event_times}", 1),
            "suites.silver.logins: unknown group 'event_times' (known: delivery, event_time, structure)",
        ),
        (
            lambda s: s.replace("reference: apps.app_id", "reference: applications.app_id"),
            "unknown reference table 'applications'",
        ),
    ],
)
def test_quality_config_errors_name_the_file_and_key(settings, tmp_path, edit, message):
    path = tmp_path / "quality.yaml"
    path.write_text(edit((settings.conf_dir / "quality.yaml").read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_quality(settings, path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_shipped_rules_load(settings):
    spec = load_quality(settings)
    assert [r.name for r in spec.row_rules("silver.logins")] == [
        "nul_byte",
        "unbalanced_quote",
        "malformed_record",
        "missing_field",
        "unexpected_field",
        "unknown_tenant",
        "invalid_timestamp",
        "timestamp_in_future",
        "timestamp_out_of_window",
    ]
    assert {r.check for r in spec.table_rules("silver.logins")} == {"unique", "province_share"}
    assert set(spec.suites) == {
        f"{layer}.{feed}"
        for layer in ("bronze", "silver")
        for feed in ("roster", "logins", "resource_usage", "traffic")
    } | {"landing.files", "silver.enterprise_master"} | {f"gold.{t}" for t in GOLD_TABLES}
    # every gold rule is a gate
    assert {r.action for t in spec.suites if t.startswith("gold.") for r in spec.suite(t)} == {"fail"}


def test_a_later_run_on_the_same_ge_project_replaces_the_suite(spark, tmp_path):
    # Every batch opens the lakehouse's GE project again and re-declares its suites from conf/.
    spec = QualitySpec(unexpected_samples=3, context_root=None, suites={})
    df = spark.createDataFrame([("a",), (None,)], "v string")
    for batch, rule in (
        ("b1", Rule(name="r", check="not_null", column="v", action="warn", doc="d")),
        ("b2", Rule(name="r", check="is_null", column="v", action="warn", doc="d")),
    ):
        v = Validator(spark, spec, CTX, str(tmp_path / "gx"), str(tmp_path / "history"), batch, "test")
        [o] = v.validate("silver.t", df, (rule,))
        v.record()
        assert (o.rule, o.unexpected_count) == ("r", 1)
    assert sorted(r.batch_id for r in spark.read.format("delta").load(str(tmp_path / "history")).collect()) == [
        "b1",
        "b2",
    ]


def test_the_ge_project_reads_no_config_variables_file(spark, tmp_path):
    # GE would parse its config-variables YAML again at every access to a context variable; iiap keeps no variables,
    # so the project is saved without the file, and one left there (here one no YAML parser accepts) is not read
    spec = QualitySpec(unexpected_samples=3, context_root=None, suites={})
    rule = Rule(name="r", check="not_null", column="v", action="warn", doc="d")
    df = spark.createDataFrame([("a",), (None,)], "v string")
    project = tmp_path / "root" / "gx"
    for batch in ("b1", "b2"):
        v = Validator(spark, spec, CTX, str(tmp_path / "root"), str(tmp_path / "history"), batch, "test")
        [o] = v.validate("silver.t", df, (rule,))
        v.record()
        assert (o.unexpected_count, v.docs_index) == (
            1,
            (project / "uncommitted/data_docs/local_site/index.html").as_uri(),
        )
        (project / "uncommitted" / "config_variables.yml").write_text("stores: [unclosed\n")
    assert "config_variables_file_path:" in (project / "great_expectations.yml").read_text().splitlines()


def _unbound(config):
    """The expectation of a stored result, as one that belongs to no suite yet."""
    expectation = config.to_domain_obj()
    expectation.id = None
    return expectation


def test_samples_are_capped_found_only_where_values_were_unexpected_and_stored_for_data_docs(spark, validator):
    rules = (
        Rule(name="neg", check="between", column="v", min=0, action="warn", doc="d"),
        Rule(name="late", check="not_after", column="v", limit_column="lim", action="warn", doc="d"),
        Rule(name="huge", check="between", column="v", max=1000, action="warn", doc="d"),
    )
    df = spark.createDataFrame(
        [(-1.0, 0.0), (-2.0, -5.0), (-3.0, 0.0), (-4.0, -9.0), (5.0, 1.0), (None, 0.0)], "v double, lim double"
    ).coalesce(1)
    found = {o.rule: (o.unexpected_count, o.samples) for o in validator.validate("t.samples", df, rules)}
    assert found == {
        "neg": (4, ("-1.0", "-2.0", "-3.0")),  # capped at unexpected_samples: 3
        "late": (3, ("(-5.0, -2.0)", "(-9.0, -4.0)", "(1.0, 5.0)")),
        "huge": (0, ()),
    }
    [key] = validator._results
    stored = validator.gx.validation_results_store.get(key).results
    # the same samples as Great Expectations' own validation with samples, in the result Data Docs shows
    batch = validator.datasource.get_asset("t.samples").batch_definitions[0].get_batch({"dataframe": df})
    suite = gx.ExpectationSuite(name="reference", expectations=[_unbound(r.expectation_config) for r in stored])
    own = batch.validate(suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 3}).results
    as_stored = [json.dumps(r.result, sort_keys=True) for r in own]  # the store keeps tuples as JSON lists
    assert [json.dumps(r.result, sort_keys=True) for r in stored] == as_stored


def test_a_suite_validated_twice_counts_the_spark_jobs_of_each_validation_once(spark, validator):
    rule = Rule(name="neg", check="between", column="v", min=0, action="warn", doc="d")
    df = spark.createDataFrame([(-1.0,), (2.0,)], "v double").coalesce(1)
    validator.validate("t.twice", df, (rule,))
    _, once = validator.timings["t.twice"]
    validator.validate("t.twice", df, (rule,))
    assert once > 0 and validator.timings["t.twice"][1] == 2 * once
