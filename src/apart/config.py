"""Settings, typed once, read from the environment or a ``.env`` file (DESIGN §12).

Nothing is read at import: build :class:`Settings` with :meth:`Settings.load` in
``main()`` (or a test) and pass it to what needs it. Every field maps to the
variable ``APART_<FIELD>``; the environment wins over ``.env``. This module uses
only the standard library, so every `apart` command starts quickly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apart.errors import ConfigError

PREFIX = "APART_"


@dataclass(frozen=True)
class Settings:
    #: local data: SQLite database, logs
    data_dir: Path = Path(".apart")
    #: SQLAlchemy URL; default: SQLite file in data_dir
    database_url: str | None = None
    #: Redis for the queue, control and live events
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: makes the CLI a client of that server
    api_url: str | None = None
    #: where apart-server listens
    host: str = "127.0.0.1"
    port: int = 8000
    #: bearer token required by /api/v1
    api_token: str | None = None
    #: the only place scenario_path may point into
    scenarios_dir: Path = Path("scenarios")
    #: seconds without heartbeat before a run is interrupted
    heartbeat_timeout: float = 15.0
    #: seconds between heartbeats of a running run
    heartbeat_interval: float = 2.0
    #: seconds between checks for pause/stop requests while a run executes
    control_poll_interval: float = 0.1
    #: simulated latency of every scripted call
    scripted_latency_ms: int = 0
    #: how many times a run whose worker died is re-queued automatically
    max_recoveries: int = 3
    #: JSON/YAML file overriding the shipped price table (USD per million tokens)
    prices_file: Path | None = None

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None,
             env_file: Path | None = Path(".env")) -> Settings:
        """Settings from ``.env`` (if present) overlaid by the environment."""
        values = dict(read_env_file(env_file)) if env_file is not None else {}
        values.update(os.environ if environ is None else environ)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        parsed: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = values.get(PREFIX + f.name.upper())
            if raw is not None and raw != "":
                parsed[f.name] = _parse(f.name, str(f.type), raw)
        return cls(**parsed)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'apart.db').resolve()}"


def _parse(name: str, type_name: str, raw: str) -> Any:
    try:
        if type_name.startswith("Path"):
            return Path(raw).expanduser()
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
    except ValueError:
        kind = "a whole number" if type_name.startswith("int") else "a number"
        raise ConfigError(
            f"{PREFIX}{name.upper()}={raw!r} is not {kind}; set it to {kind} or unset it"
        ) from None
    return raw


def read_env_file(path: Path | None) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments, ``export`` and surrounding quotes allowed."""
    if path is None or not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def process_environment(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """The environment as apart reads it: ``.env`` overlaid by the process environment
    (vendor keys such as OPENAI_API_KEY may live in either)."""
    return {**read_env_file(env_file), **os.environ}
