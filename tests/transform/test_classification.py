"""Classification rules, features, windows and counts on hand-built rows."""

from datetime import date, datetime
from itertools import product

import pytest
from pyspark.sql import Row
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from analytics import access, activity, labelling
from analytics.rule_sets import FEATURES, Classification, load_classification, parse_expression
from etl.config import ObservationWindow
from etl.model import ConfigError

WINDOW = ObservationWindow(start=date(2020, 6, 1), end=date(2020, 6, 30), timezone="Asia/Shanghai")


@pytest.fixture(scope="module")
def spec(settings) -> Classification:
    return load_classification(settings)


def _enterprise(code: str, platforms=("P01",), province="44", section="C", sub="machinery", **features) -> dict:
    row = {
        "credit_code": code,
        "province_code": province,
        "section_code": section,
        "sub_industry_id": sub,
        "platforms": list(platforms),
    }
    row.update({f: 0 for f in FEATURES})
    row.update(features)
    return row


ENTERPRISE_SCHEMA = T.StructType(
    [
        T.StructField("credit_code", T.StringType()),
        T.StructField("province_code", T.StringType()),
        T.StructField("section_code", T.StringType()),
        T.StructField("sub_industry_id", T.StringType()),
        T.StructField("platforms", T.ArrayType(T.StringType())),
        *[T.StructField(f, T.DoubleType()) for f in FEATURES],
    ]
)


def _frame(spark, rows):
    return spark.createDataFrame([{**r, **{f: float(r[f]) for f in FEATURES}} for r in rows], ENTERPRISE_SCHEMA)


# Each signal exactly at its thresholds (passes) or one unit short on one of them (fails).
PASS = {
    "login": {"login_days": 5},
    "resource_usage": {"usage_days": 3, "compute_core_hours": 5},
    "traffic": {"traffic_days": 3, "traffic_bytes": 104857600},
}
SHORT = {
    "login": {"login_days": 4},
    "resource_usage": {"usage_days": 3, "compute_core_hours": 4.99},
    "traffic": {"traffic_days": 2, "traffic_bytes": 104857600},
}
SIGNALS = ("login", "resource_usage", "traffic")


def test_every_combination_of_signals_under_both_shipped_rule_sets(spark, spec):
    rows, expected_k, expected_expr = [], [], []
    for combo in product([True, False], repeat=3):
        code = "".join("1" if c else "0" for c in combo)
        features = {}
        for name, passes in zip(SIGNALS, combo):
            features.update(PASS[name] if passes else SHORT[name])
        rows.append(_enterprise(code, **features))
        passed = [n for n, c in zip(SIGNALS, combo) if c]
        failed = [n for n, c in zip(SIGNALS, combo) if not c]
        expected_k.append(
            Row(credit_code=code, effective=sum(combo) >= 2, passed_signals=passed, failed_signals=failed)
        )
        expected_expr.append(
            Row(
                credit_code=code,
                effective=combo[0] and (combo[1] or combo[2]),
                passed_signals=passed,
                failed_signals=failed,
            )
        )
    frame = _frame(spark, rows)
    for name, expected in (("activity-2of3-v1", expected_k), ("activity-login-and-use-v1", expected_expr)):
        labels = labelling.label_enterprises(frame, spec.rule_set(name))
        assertDataFrameEqual(labels.select("credit_code", "effective", "passed_signals", "failed_signals"), expected)
        assert {r.rule_set for r in labels.collect()} == {name}
    # the shipped default: 2 of 3 -> 4 of the 8 combinations
    assert labelling.label_enterprises(frame, spec.rule_set(None)).filter("effective").count() == 4


def test_an_enterprise_without_activity_fails_every_signal(spark, spec):
    master = spark.createDataFrame(
        [("A", "44", "C", "machinery", ["P01"])],
        "credit_code string, province_code string, section_code string, sub_industry_id string, "
        "platforms array<string>",
    )
    features = spark.createDataFrame([], "credit_code string, " + ", ".join(f"{f} double" for f in FEATURES))
    labels = labelling.label_enterprises(labelling.with_features(master, features), spec.rule_set(None)).collect()
    assert [(r.effective, r.passed_signals, r.failed_signals, r.login_days) for r in labels] == [
        (False, [], list(SIGNALS), 0)
    ]


def test_expression_parser_precedence_and_errors():
    assert parse_expression("not a or b and (c or d)") == (
        "or",
        ("not", ("signal", "a")),
        ("and", ("signal", "b"), ("or", ("signal", "c"), ("signal", "d"))),
    )
    for bad, message in (
        ("login and", "ends too early"),
        ("login login", "unexpected 'login'"),
        ("(login", "missing ')'"),
        ("login + traffic", "unexpected text at '+ traffic'"),
        ("and", "unexpected 'and'"),
    ):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
            parse_expression(bad)


BAD_CONFIGS = [
    ("{k_of: 2}", "{k_of: 4}", "rule_sets.activity-2of3-v1: combine.k_of 4 is more than the 3 signals"),
    (
        "thresholds: {login_days: 5}",
        "thresholds: {login_dayz: 5}",
        "signals.login.thresholds: unknown feature(s) ['login_dayz']",
    ),
    (
        '{expression: "login and (resource_usage or traffic)"}',
        '{expression: "login and usage"}',
        "combine.expression names unknown signal(s) ['usage']",
    ),
    (
        "default_rule_set: activity-2of3-v1",
        "default_rule_set: nope",
        "default_rule_set 'nope' is not one of the rule sets",
    ),
    ("{k_of: 2}", "{k_of: 2, expression: login}", "give exactly one of k_of, expression"),
    ("thresholds: {login_days: 5}", "thresholds: {login_days: -1}", "threshold(s) ['login_days'] must be >= 0"),
]


@pytest.mark.parametrize("old, new, message", BAD_CONFIGS)
def test_bad_rule_sets_are_rejected_naming_file_and_key(settings, tmp_path, old, new, message):
    text = (settings.conf_dir / "classification.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "classification.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_classification(settings, path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_unknown_rule_set_is_named(spec):
    with pytest.raises(
        ConfigError, match=r"unknown rule set 'v0' \(known: activity-2of3-v1, activity-login-and-use-v1\)"
    ):
        spec.rule_set("v0")


LOGIN_SCHEMA = "credit_code string, platform_id string, user_key string, event_ts timestamp, event_date date"


def _login(code, platform, user, ts: str):
    t = datetime.fromisoformat(ts)
    return (code, platform, user, t, t.date())  # silver's event_date is not what the window reads


def test_window_boundaries_follow_the_window_time_zone(spark):
    rows = [
        _login("A", "P01", "u1", "2020-05-31 15:59:59"),  # 23:59:59 on May 31 in Shanghai: outside
        _login("A", "P01", "u1", "2020-05-31 16:00:00"),  # 00:00 on June 1 in Shanghai: first day
        _login("A", "P01", "u2", "2020-06-30 15:59:59"),  # 23:59:59 on June 30: last day
        _login("A", "P01", "u2", "2020-06-30 16:00:00"),  # 00:00 on July 1: outside
    ]
    logins = spark.createDataFrame(rows, LOGIN_SCHEMA)
    shanghai = activity.daily_logins(logins, WINDOW)
    assertDataFrameEqual(
        shanghai,
        [
            Row(credit_code="A", platform_id="P01", activity_date=date(2020, 6, 1), logins=1, users=1),
            Row(credit_code="A", platform_id="P01", activity_date=date(2020, 6, 30), logins=1, users=1),
        ],
    )
    utc = activity.daily_logins(logins, WINDOW.model_copy(update={"timezone": "UTC"}))
    assertDataFrameEqual(
        utc, [Row(credit_code="A", platform_id="P01", activity_date=date(2020, 6, 30), logins=2, users=1)]
    )


def test_daily_activity_joins_the_three_logs_with_zeros_where_a_log_is_silent(spark):
    logins = spark.createDataFrame(
        [
            _login("A", "P01", "u1", "2020-06-02 01:00:00"),
            _login("A", "P01", "u2", "2020-06-02 02:00:00"),
            _login("A", "P01", "u1", "2020-06-02 03:00:00"),
        ],
        LOGIN_SCHEMA,
    )
    usage = spark.createDataFrame(
        [
            ("A", "P01", datetime(2020, 6, 2, 1), date(2020, 6, 2), "compute", None, 1.5),
            ("A", "P01", datetime(2020, 6, 2, 2), date(2020, 6, 2), "storage", None, 1e9),
            ("A", "P01", datetime(2020, 6, 2, 3), date(2020, 6, 2), "app_session", "APP01", 4.0),
            ("A", "P01", datetime(2020, 6, 2, 4), date(2020, 6, 2), "app_session", "APP02", 2.0),
            ("B", "P02", datetime(2020, 6, 3, 4), date(2020, 6, 3), "app_session", "APP02", 1.0),
        ],
        "credit_code string, platform_id string, event_ts timestamp, event_date date, resource_kind string, "
        "app_id string, quantity double",
    )
    traffic = spark.createDataFrame(
        [("C", "P03", datetime(2020, 6, 4, 0), date(2020, 6, 4), 10, 20, 3)],
        "credit_code string, platform_id string, event_ts timestamp, event_date date, bytes_in bigint, "
        "bytes_out bigint, requests bigint",
    )
    daily = activity.daily_activity(logins, usage, traffic, WINDOW)
    assertDataFrameEqual(
        daily,
        [
            Row(
                credit_code="A",
                platform_id="P01",
                activity_date=date(2020, 6, 2),
                logins=3,
                users=2,
                compute_core_hours=1.5,
                storage_bytes=1e9,
                app_sessions=6,
                bytes_in=0,
                bytes_out=0,
                requests=0,
            ),
            Row(
                credit_code="B",
                platform_id="P02",
                activity_date=date(2020, 6, 3),
                logins=0,
                users=0,
                compute_core_hours=0.0,
                storage_bytes=0.0,
                app_sessions=1,
                bytes_in=0,
                bytes_out=0,
                requests=0,
            ),
            Row(
                credit_code="C",
                platform_id="P03",
                activity_date=date(2020, 6, 4),
                logins=0,
                users=0,
                compute_core_hours=0.0,
                storage_bytes=0.0,
                app_sessions=0,
                bytes_in=10,
                bytes_out=20,
                requests=3,
            ),
        ],
    )
    apps = activity.daily_app_sessions(usage, WINDOW)
    assertDataFrameEqual(
        apps.select("credit_code", "app_id", "sessions"),
        [
            Row(credit_code="A", app_id="APP01", sessions=4),
            Row(credit_code="A", app_id="APP02", sessions=2),
            Row(credit_code="B", app_id="APP02", sessions=1),
        ],
    )


def test_features_combine_an_enterprises_platforms_and_count_a_shared_day_once(spark):
    def day(platform, d, logins=0, users=0, compute=0.0, bytes_in=0, requests=0):
        return (
            "A",
            platform,
            date(2020, 6, d),
            logins,
            users,
            compute,
            0.0,
            0,
            bytes_in,
            0,
            requests,
        )

    daily = spark.createDataFrame(
        [
            day("P01", 1, logins=2, users=1),
            day("P01", 2, logins=1, users=1),
            day("P01", 3, logins=1, users=3, compute=2.0),
            day("P02", 3, logins=4, users=2),
            day("P02", 4, logins=1, users=1),
            day("P02", 5, compute=3.5, bytes_in=100, requests=2),
        ],
        "credit_code string, platform_id string, activity_date date, logins bigint, users bigint, "
        "compute_core_hours double, storage_bytes double, "
        "app_sessions bigint, bytes_in bigint, bytes_out bigint, requests bigint",
    )
    apps = spark.createDataFrame([("A", "APP01"), ("A", "APP01"), ("A", "APP02")], "credit_code string, app_id string")
    f = activity.activity_features(daily, apps).first()
    assert (f.active_days, f.login_days, f.logins, f.user_days, f.peak_daily_users) == (5, 4, 9, 8, 3)
    assert (f.usage_days, f.compute_core_hours, f.distinct_apps, f.traffic_days, f.traffic_bytes, f.requests) == (
        2,
        5.5,
        2,
        1,
        100,
        2,
    )


def test_an_enterprise_on_two_platforms_counts_once_nationally_and_once_per_platform(spark):
    labels = spark.createDataFrame(
        [
            ("A", "44", "C", "machinery", ["P01", "P02"], True),
            ("B", "44", "C", "textiles", ["P02"], False),
            ("C", "32", "F", "services", ["P03"], True),
        ],
        "credit_code string, province_code string, section_code string, sub_industry_id string, "
        "platforms array<string>, effective boolean",
    )
    counts = {
        (r.dimension, r.key): (r.connected, r.effective, r.access_ratio) for r in access.access_counts(labels).collect()
    }
    assert counts == {
        ("national", "CN"): (3, 2, 2 / 3),
        ("province", "44"): (2, 1, 0.5),
        ("province", "32"): (1, 1, 1.0),
        ("section", "C"): (2, 1, 0.5),
        ("section", "F"): (1, 1, 1.0),
        ("sub_industry", "machinery"): (1, 1, 1.0),
        ("sub_industry", "textiles"): (1, 0, 0.0),
        ("sub_industry", "services"): (1, 1, 1.0),
        ("platform", "P01"): (1, 1, 1.0),
        ("platform", "P02"): (2, 1, 0.5),
        ("platform", "P03"): (1, 1, 1.0),
    }


def test_confusion_against_the_truth_counts_unlabelled_truth_as_not_effective(spark):
    labels = spark.createDataFrame(
        [("A", True), ("B", True), ("C", False), ("D", False)], "credit_code string, effective boolean"
    )
    truth = spark.createDataFrame(
        [("A", True), ("B", False), ("C", True), ("D", False), ("E", True)], "credit_code string, effective boolean"
    )
    e = access.confusion(labels, truth)
    assert e == {
        "true_positive": 1,
        "false_positive": 1,
        "false_negative": 2,
        "true_negative": 1,
        "truth_not_labelled": 1,
        "labelled_not_in_truth": 0,
        "precision": 0.5,
        "recall": 1 / 3,
    }


def test_sensitivity_moves_one_threshold_at_a_time(spark, spec):
    rule_set = spec.rule_set(None)
    # login_days 3..7; every enterprise passes resource_usage, none passes traffic: effective iff login passes
    rows = [_enterprise(f"E{d}", login_days=d, usage_days=3, compute_core_hours=5) for d in range(3, 8)]
    table = labelling.sensitivity(_frame(spark, rows), rule_set, (-50, -25, -10, 10, 25, 50))
    login = [
        (r["step_percent"], r["value"], r["effective"], r["change"])
        for r in table
        if r["threshold"] == "login.login_days"
    ]
    # baseline 5 -> E5, E6, E7 effective (3)
    assert login == [
        (-50, 2.5, 5, 2),
        (-25, 3.75, 4, 1),
        (-10, 4.5, 3, 0),
        (10, 5.5, 2, -1),
        (25, 6.25, 1, -2),
        (50, 7.5, 0, -3),
    ]
    traffic = {r["step_percent"]: r["effective"] for r in table if r["threshold"] == "traffic.traffic_bytes"}
    assert traffic == {s: 3 for s in (-50, -25, -10, 10, 25, 50)}
    assert len(table) == 5 * 6 and {r["baseline_effective"] for r in table} == {3}
