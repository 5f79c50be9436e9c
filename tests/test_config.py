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
