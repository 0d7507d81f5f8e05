import hashlib
import re
import shutil

import pytest

from etl.config import load_generator, load_settings
from etl.model import ConfigError


def test_shipped_conf_loads(settings):
    assert len(settings.contracts) == 34
    assert settings.pipeline.window.days == 30
    assert str(settings.pipeline.window.start_utc()) == "2020-05-31 16:00:00"
    assert load_generator().population.effective == 1619865


@pytest.fixture
def conf_copy(tmp_path, settings):
    target = tmp_path / "conf"
    shutil.copytree(settings.conf_dir, target)
    return target


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("lakehouse_root:", "lakehouse_rot:", "lakehouse_rot: Extra inputs are not permitted"),
        (
            "future_tolerance_hours: 6",
            "future_tolerance_hours: six",
            "ingest.future_tolerance_hours: Input should be a valid number",
        ),
        (
            "landing_pattern: '^(?P<platform_id>",
            "landing_pattern: '^(?P<platform>",
            "ingest.landing_pattern: needs the named groups (?P<platform_id>...)",
        ),
        (
            "landing_pattern: '^(?P<platform_id>",
            "landing_pattern: '^((?P<platform_id>",
            "ingest.landing_pattern: not a regular expression (missing ), unterminated subpattern at position 1)",
        ),
        ("timezone: Asia/Shanghai", "timezone: Asia/Shanghia", "window.timezone: unknown time zone 'Asia/Shanghia'"),
    ],
)
def test_bad_pipeline_key_is_named_with_its_file(conf_copy, old, new, message):
    path = conf_copy / "pipeline.yaml"
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_settings(conf_copy)
    assert f"{path}: {message}" in str(err.value)


def test_contract_with_unmapped_field_is_rejected(conf_copy):
    path = conf_copy / "contracts" / "P05.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(", channel: DLQD", "").replace(", channel: loginChannel", "").replace(", channel: channel", "")
    )
    with pytest.raises(ConfigError) as err:
        load_settings(conf_copy)
    assert f"{path}: fields.logins.channel: canonical field not mapped" in str(err.value)


def test_unknown_profile(conf_copy):
    with pytest.raises(ConfigError, match="unknown profile 'gpu'"):
        load_settings(conf_copy, profile="gpu")


def test_a_contract_time_zone_typo_is_named_with_its_file(conf_copy):
    path = conf_copy / "contracts" / "P01.yaml"
    path.write_text(path.read_text().replace("timezone: Asia/Shanghai", "timezone: Asia/Shangai"))
    with pytest.raises(ConfigError) as err:
        load_settings(conf_copy)
    assert f"{path}: timestamp.timezone: unknown time zone 'Asia/Shangai'" in str(err.value)


def test_the_cli_gives_one_line_and_exit_code_2_for_bad_configuration_before_spark_starts(conf_copy):
    from click.testing import CliRunner

    from jobs.cli import main

    path = conf_copy / "contracts" / "P01.yaml"
    path.write_text(path.read_text().replace("timezone: Asia/Shanghai", "timezone: Asia/Shangai"))
    result = CliRunner().invoke(main, ["--conf", str(conf_copy), "ingest"])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: invalid configuration:\n{path}: timestamp.timezone: unknown time zone 'Asia/Shangai'\n"
    )


def test_a_key_fingerprint_tells_keys_apart_and_does_not_hold_the_key():
    from etl.pseudonym import fingerprint

    key = b"test-only-key-0123456789abcdef"
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint(key))
    assert fingerprint(key) == fingerprint(bytes(key))
    assert fingerprint(key) != fingerprint(key[:-1] + b"0")
    assert key.hex()[:8] not in fingerprint(key) and hashlib.sha256(key).hexdigest()[:16] != fingerprint(key)


@pytest.mark.parametrize("command", ["ingest", "quality", "classify"])
def test_a_remote_lakehouse_without_a_local_data_docs_folder_is_refused_before_spark_starts(
    conf_copy, monkeypatch, command
):
    from click.testing import CliRunner

    from jobs import cli

    def no_spark(*args, **kw):
        raise AssertionError("Spark was started")

    monkeypatch.setattr(cli, "_session", no_spark)
    result = CliRunner().invoke(cli.main, ["--conf", str(conf_copy), "--lakehouse", "s3a://bucket/lake", command])
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: invalid configuration:\n{conf_copy / 'quality.yaml'}: context_root: Data Docs need a local folder, "
        "got 's3a://bucket/lake/_quality'; set context_root when the lakehouse is remote\n"
    )
