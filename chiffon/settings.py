"""Settings: the only module that reads the environment (``CHIFFON_*`` variables and ``.env``).

``assembly.System`` reads them once and passes plain values down; nothing deeper calls
``Settings()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chiffon.errors import ConfigError


def _default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("chiffon", appauthor=False))


class Settings(BaseSettings):
    """Chiffon's configuration. Every field is read from ``CHIFFON_<FIELD>`` (or ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="CHIFFON_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Field(
        default_factory=_default_home,
        description="Where Chiffon keeps its state: the embedded database, the audit trail.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host/db). Unset: the embedded server.",
    )
    amqp_url: SecretStr | None = Field(
        default=None, description="RabbitMQ URL for remote agents. Unset: local agents only."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "console", "json"] = Field(
        default="auto", description="auto: console on a terminal, JSON otherwise."
    )
    mailbox_capacity: int = Field(default=1000, ge=1, le=1_000_000)
    journal_batch_size: int = Field(default=512, ge=1, le=100_000)
    journal_flush_ms: float = Field(default=2.0, ge=0.0, le=10_000.0)
    journal_pool_size: int = Field(default=4, ge=1, le=100)
    shutdown_deadline_s: float = Field(default=5.0, ge=0.0)
    auto_upgrade: bool = Field(default=True, description="Upgrade the schema at start.")

    @field_validator("database_url", "amqp_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Read the environment, raising ``ConfigError`` with one sentence when it is invalid."""
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "settings"
            raise ConfigError(f"CHIFFON_{field.upper()} is invalid: {first['msg']}.") from None

    @property
    def embedded_data_dir(self) -> Path:
        return self.home / "pgdata"
