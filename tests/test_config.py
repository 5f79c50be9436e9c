import pytest

from melib import config
from melib.errors import ConfigError


def test_env_variable_beats_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "melib.yaml"
    cfg.write_text("data:\n  casme2: /from/file\n  samm: ~/samm\n")
    monkeypatch.setenv("MELIB_CONFIG", str(cfg))
    monkeypatch.delenv("MELIB_DATA_SAMM", raising=False)
    monkeypatch.setenv("MELIB_DATA_CASME2", "/from/env")
    assert str(config.data_root("casme2")) == "/from/env"
    assert not str(config.data_root("samm")).startswith("~")
    monkeypatch.delenv("MELIB_DATA_CASME2")
    assert str(config.data_root("casme2")) == "/from/file"


def test_unconfigured_dataset_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("MELIB_DATA_SMIC", raising=False)
    assert config.data_root("smic") is None


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ConfigError, match="casme2"):
        config.data_root("casme3")


@pytest.mark.parametrize("text, found", [
    ("data: {casme2: [unclosed\n", "not valid YAML"),
    ("data:\n  - casme2\n  - /x\n", "'data' is a list"),
    ("- a\n- b\n", "a list"),
    ("data:\n  casme2: 3\n", "3 (not a path) for casme2"),
    ("data:\n  casme2: /x\n  casmeii: /y\n", "unknown dataset 'casmeii'"),
])
def test_a_malformed_config_file_is_a_config_error_naming_it(tmp_path, monkeypatch, text, found):
    cfg = tmp_path / "melib.yaml"
    cfg.write_text(text)
    monkeypatch.setenv("MELIB_CONFIG", str(cfg))
    monkeypatch.delenv("MELIB_DATA_CASME2", raising=False)
    with pytest.raises(ConfigError, match="melib.yaml") as err:
        config.data_root("casme2")
    assert found in str(err.value) and "data: {casme2: /path/to/CASME2}" in str(err.value)


def test_an_empty_config_file_configures_nothing(tmp_path, monkeypatch):
    (tmp_path / "melib.yaml").write_text("# nothing yet\n")
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "melib.yaml"))
    monkeypatch.delenv("MELIB_DATA_SAMM", raising=False)
    assert config.data_root("samm") is None


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "", 0])
def test_an_unknown_device_is_refused(device):
    with pytest.raises(ConfigError, match="device"):
        config.check_device(device)


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "auto"])
def test_known_devices(device):
    assert config.check_device(device) == device
