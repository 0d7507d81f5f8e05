"""The generator's JVM compiler choice: which session conf each --jit mode and scale gets."""

import pytest
from click.testing import CliRunner

from etl.config import load_settings
from etl.model import ConfigError
from etl.spark import quick_start_conf
from jobs.cli import main

QUICK = {"spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1"}


@pytest.mark.parametrize(
    ("scale", "mode", "expected"),
    [
        (0.001, "auto", QUICK),
        (0.002, "auto", QUICK),  # max_scale itself is small
        (0.0021, "auto", {}),
        (1.0, "auto", {}),
        (1.0, "quick", QUICK),
        (0.001, "optimizing", {}),
    ],
)
def test_local_profile_quick_start(settings, scale, mode, expected):
    assert settings.profile.quick_start.max_scale == 0.002
    assert quick_start_conf(settings.profile, scale, mode) == expected


def test_profile_without_quick_start():
    cluster = load_settings(profile="cluster").profile
    assert cluster.quick_start is None
    assert quick_start_conf(cluster, 0.001, "auto") == {}
    assert quick_start_conf(cluster, 0.001, "optimizing") == {}
    with pytest.raises(
        ValueError,
        match=r"^profile 'cluster' has no quick_start JVM options \(conf/profiles/cluster.yaml: quick_start\)$",
    ):
        quick_start_conf(cluster, 0.001, "quick", "cluster")


def test_unknown_mode(settings):
    with pytest.raises(ValueError, match="^JIT mode 'fast' is not one of auto, quick, optimizing$"):
        quick_start_conf(settings.profile, 0.001, "fast")


def test_bad_quick_start_is_named_with_its_file(tmp_path, settings):
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(settings.conf_dir, conf)
    path = conf / "profiles" / "local.yaml"
    path.write_text(path.read_text().replace("max_scale: 0.002", "max_scale: 0"))
    with pytest.raises(ConfigError) as err:
        load_settings(conf)
    assert f"{path}: quick_start.max_scale: Input should be greater than 0" in str(err.value)


def test_cli_refuses_quick_without_options_before_starting_spark(tmp_path):
    res = CliRunner().invoke(
        main, ["--profile", "cluster", "generate", "--scale", "0.001", "--out", str(tmp_path / "o"), "--jit", "quick"]
    )
    assert res.exit_code == 2
    assert (
        "Error: Invalid value for --jit: profile 'cluster' has no quick_start JVM options "
        "(conf/profiles/cluster.yaml: quick_start)"
    ) in res.output
    assert not (tmp_path / "o").exists()
