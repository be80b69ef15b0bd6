"""Settings, typed once, read from the environment or a ``.env`` file (DESIGN §12).

Nothing is read at import: build a :class:`Settings` in ``main()`` (or a test)
and pass it to what needs it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="APART_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path(".apart"), description="local data: SQLite database, exports")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="queue, control, live events")
    api_url: str | None = Field(None, description="makes the CLI a client of that server")
    host: str = Field("127.0.0.1", description="where apart-server listens")
    port: int = Field(8000, description="where apart-server listens")
    api_token: str | None = Field(None, description="bearer token required by /api/v1")
    scenarios_dir: Path = Field(Path("scenarios"), description="where scenario_path may point")
    heartbeat_timeout: float = Field(
        15.0, description="seconds without heartbeat before a run is interrupted"
    )
    heartbeat_interval: float = Field(2.0, description="seconds between heartbeats")
    control_poll_interval: float = Field(
        0.1, description="seconds between checks for pause/stop requests while running"
    )
    scripted_latency_ms: int = Field(0, description="simulated latency of every scripted call")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'apart.db').resolve()}"
