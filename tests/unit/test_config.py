"""Settings come from the environment and a .env file, typed, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from apart.config import Settings
from apart.errors import ConfigError


def test_defaults_match_the_documented_table() -> None:
    settings = Settings.load(environ={}, env_file=None)
    assert settings.data_dir == Path(".apart")
    assert settings.heartbeat_timeout == 15.0
    assert settings.scripted_latency_ms == 0
    assert settings.resolved_database_url().endswith("/.apart/apart.db")


def test_the_environment_overrides_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# local settings\nAPART_DATA_DIR='/srv/apart'\n"
                        "export APART_SCRIPTED_LATENCY_MS=40\nAPART_HEARTBEAT_TIMEOUT=5\n")
    settings = Settings.load(environ={"APART_HEARTBEAT_TIMEOUT": "9.5"}, env_file=env_file)
    assert settings.data_dir == Path("/srv/apart")
    assert settings.scripted_latency_ms == 40
    assert settings.heartbeat_timeout == 9.5


def test_a_database_url_replaces_the_sqlite_default() -> None:
    url = "postgresql+psycopg://root@127.0.0.1/test"
    assert Settings.load(environ={"APART_DATABASE_URL": url},
                         env_file=None).resolved_database_url() == url


def test_a_value_of_the_wrong_type_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="APART_SCRIPTED_LATENCY_MS='fast' is not a whole"):
        Settings.load(environ={"APART_SCRIPTED_LATENCY_MS": "fast"}, env_file=None)
