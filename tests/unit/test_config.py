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
