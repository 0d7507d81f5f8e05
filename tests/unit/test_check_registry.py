"""The check registry: every kind of conf/quality.yaml is one object; unknown kinds and wrong arguments are refused."""

import pytest
from pydantic import ValidationError

from etl.model import ConfigError
from quality.checks import CHECKS, BetweenArgs, kind_of
from quality.spec import Rule, load_quality


def test_the_registry_holds_every_shipped_kind_and_knows_row_from_table_checks():
    rows = sorted(n for n, k in CHECKS.items() if k.row)
    tables = sorted(n for n, k in CHECKS.items() if not k.row)
    assert rows == [
        "between",
        "credit_code",
        "exists_in",
        "in_set",
        "in_window",
        "is_null",
        "not_after",
        "not_null",
        "whole_number",
    ]
    assert tables == ["columns", "province_share", "unique", "volume"]
    assert kind_of("between").Args is BetweenArgs


def test_a_rule_keeps_its_arguments_typed_by_its_kind():
    rule = Rule(name="r", check="between", column="v", min=0, max_from="requests", action="quarantine", doc="d")
    assert (type(rule.args).__name__, rule.args.min, rule.args.max, rule.args.max_from, rule.args.strict_max) == (
        "BetweenArgs",
        0.0,
        None,
        "requests",
        False,
    )
    assert rule.model_dump()["args"] == {"min": 0.0, "max": None, "strict_max": False, "max_from": "requests"}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"name": "r", "check": "is_nul", "column": "v"},
            "Value error, rule r: unknown check 'is_nul' (known: between, columns, credit_code, exists_in, in_set, "
            "in_window, is_null, "
            "not_after, not_null, province_share, unique, volume, whole_number)",
        ),
        (
            {"name": "r", "check": "not_null", "column": "v", "min": 0},
            "Value error, rule r: check not_null: min: Extra inputs are not permitted",
        ),
        (
            {"name": "r", "check": "between", "column": "v"},
            "Value error, rule r: check between: arguments: between needs min, max or max_from",
        ),
        (
            {"name": "r", "check": "between", "column": "v", "max": 1, "max_from": "requests"},
            "Value error, rule r: check between: arguments: give max or max_from, not both",
        ),
        (
            {"name": "r", "check": "volume", "lookback": 0, "min_ratio": 0.5, "max_ratio": 2},
            "Value error, rule r: check volume: lookback: Input should be greater than or equal to 1",
        ),
        (
            {"name": "r", "check": "volume", "lookback": 7, "min_ratio": 0.5},
            "Value error, rule r: check volume: max_ratio: Field required",
        ),
        (
            {"name": "r", "check": "in_set", "column": "v", "values": ["a"], "reference": "apps.app_id"},
            "Value error, rule r: check in_set: arguments: in_set needs exactly one of values, reference",
        ),
        (
            {"name": "r", "check": "not_after", "column": "v"},
            "Value error, rule r: check not_after: limit_column: Field required",
        ),
        ({"name": "r", "check": "not_null"}, "Value error, rule r: give exactly one of column, columns"),
        (
            {"name": "r", "check": "unique", "column": "k"},
            "Value error, rule r: check unique needs columns (its key), not column",
        ),
        (
            {"name": "r", "check": "volume", "column": "v", "lookback": 7, "min_ratio": 0.5, "max_ratio": 2},
            "Value error, rule r: check volume takes no column",
        ),
        (
            {"name": "r", "check": "columns", "names": ["a"], "action": "quarantine"},
            "Value error, rule r: columns is a table check; its action is warn or fail, not quarantine",
        ),
    ],
)
def test_unknown_kinds_and_wrong_arguments_are_refused_naming_the_rule(rule, message):
    given = {"action": "warn", "doc": "d", **rule}
    with pytest.raises(ValidationError) as err:
        Rule(**given)
    assert [e["msg"] for e in err.value.errors()] == [message]


def test_quality_yaml_with_a_wrong_argument_is_refused_naming_the_file_rule_and_key(settings, tmp_path):
    path = tmp_path / "quality.yaml"
    text = (settings.conf_dir / "quality.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("check: volume, lookback: 7,", "check: volume, look_back: 7,"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_quality(settings, path)
    assert str(err.value) == (
        f"{path}: groups.delivery[delivery_volume]: rule delivery_volume: check volume: "
        "lookback: Field required; look_back: Extra inputs are not permitted"
    )
