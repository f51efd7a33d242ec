"""Settings: the only module that reads the environment (``CHIFFON_*`` variables and ``.env``).

``assembly.System`` reads them once and passes plain values down; nothing deeper calls
``Settings()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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

    catalog: Path | None = Field(
        default=None, description="The playbook catalog directory (catalog.yml + inventory)."
    )
    target_root: Path | None = Field(
        default=None,
        description="Where playbooks write on localhost targets. Unset: CHIFFON_HOME/target.",
    )
    audit_dir: Path | None = Field(
        default=None, description="The git audit trail repository. Unset: CHIFFON_HOME/audit."
    )
    approval_ttl_s: float = Field(
        default=900.0, gt=0.0, description="How long a plan waits for a decision, then expires."
    )
    output_cap_bytes: int = Field(
        default=65536, ge=1024, description="Ansible output kept per step (the tail beyond it)."
    )
    budget_usd: float = Field(default=0.50, ge=0.0, description="Per-run model spending cap.")
    llm_local_model: str | None = Field(
        default=None, description="LiteLLM model name of the local model, e.g. ollama/llama3.1."
    )
    llm_local_api_base: str | None = Field(
        default=None, description="Base URL of the local model server (Ollama's, by default)."
    )
    llm_external_model: str | None = Field(
        default=None, description="LiteLLM model name of the external fallback model."
    )
    llm_external_api_base: str | None = None
    llm_external_api_key: SecretStr | None = None
    llm_local_quota_url: str | None = Field(
        default=None,
        description="URL answering the local model's remaining quota as JSON {remaining: 0..1}.",
    )
    llm_timeout_s: float = Field(default=60.0, gt=0.0)

    # remote agents over RabbitMQ
    instance: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="This orchestrator's name on the broker (its queue). Unset: host-pid.",
    )
    sealing_key_file: Path | None = Field(
        default=None,
        description="The key that seals secrets at rest (chiffon.sealing). Unset: "
        "CHIFFON_HOME/sealing.key, made on first use.",
    )
    agent_keys_dir: Path | None = Field(
        default=None,
        description="Agents' credentials (`chiffon agent add`). Unset: CHIFFON_HOME/agents.",
    )
    amqp_ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the broker's TLS certificate."
    )
    amqp_cert_file: Path | None = Field(default=None, description="TLS client certificate.")
    amqp_key_file: Path | None = Field(default=None, description="TLS client key.")
    amqp_plain_remote: bool = Field(
        default=False,
        description="Allow amqp:// (no TLS) to a broker off loopback. Off: amqps:// is required.",
    )

    # agents and capacity
    heartbeat_interval_s: float = Field(
        default=5.0, gt=0.0, le=3600.0, description="How often an agent sends a heartbeat."
    )
    offline_after_missed: int = Field(
        default=2, ge=1, le=100, description="Missed heartbeats before an agent is offline."
    )
    capacity_wait_s: float = Field(
        default=600.0,
        gt=0.0,
        description="How long a run waits (paused) for an agent with capacity, then fails.",
    )
    capacity_ask_timeout_s: float = Field(
        default=5.0, gt=0.0, description="How long an agent has to answer a capacity question."
    )
    step_max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Attempts of a step whose agent is lost (or restarts) before the run fails.",
    )
    agent_status_wait_s: float = Field(
        default=30.0,
        gt=0.0,
        description="How long a resumed run waits for an agent to say what became of a step.",
    )
    resource_file: Path | None = Field(
        default=None,
        description="A JSON file of resource figures (e.g. gpus) laid over what the agent "
        "measures, re-read at every sample.",
    )

    @field_validator(
        "database_url",
        "amqp_url",
        "llm_local_model",
        "llm_local_api_base",
        "llm_external_model",
        "llm_external_api_base",
        "llm_external_api_key",
        "llm_local_quota_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url", mode="after")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), ("postgresql", "postgres"))
        return value

    @field_validator("amqp_url", mode="after")
    @classmethod
    def _amqp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_url(value.get_secret_value(), ("amqp", "amqps"))
        return value

    @field_validator(
        "llm_local_api_base", "llm_external_api_base", "llm_local_quota_url", mode="after"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            _check_url(value, ("http", "https"))
        return value

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> Settings:
        url = self.amqp_url.get_secret_value() if self.amqp_url is not None else None
        if url is None:
            return self
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        if parts.scheme == "amqp" and not _loopback(host) and not self.amqp_plain_remote:
            raise ValueError(
                f"points at {host}, off loopback, without TLS: use amqps:// "
                "(or set CHIFFON_AMQP_PLAIN_REMOTE=true on a trusted network)"
            )
        return self

    @classmethod
    def load(cls, **overrides: object) -> Settings:
        """Read the environment, raising ``ConfigError`` with one sentence when it is invalid."""
        try:
            return cls(**overrides)  # type: ignore[arg-type]
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "amqp_url"
            raise ConfigError(
                f"CHIFFON_{field.upper()} is invalid: {first['msg'].removeprefix('Value error, ')}."
            ) from None

    @property
    def embedded_data_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def target_root_dir(self) -> Path:
        return self.target_root if self.target_root is not None else self.home / "target"

    @property
    def agent_keys_path(self) -> Path:
        return self.agent_keys_dir if self.agent_keys_dir is not None else self.home / "agents"

    @property
    def audit_repo_dir(self) -> Path:
        return self.audit_dir if self.audit_dir is not None else self.home / "audit"

    @property
    def sealing_key_path(self) -> Path:
        return (
            self.sealing_key_file
            if self.sealing_key_file is not None
            else self.home / "sealing.key"
        )


def _check_url(url: str, schemes: tuple[str, ...]) -> None:
    """Raise ``ValueError`` with one sentence (never the URL: it may hold a password) unless
    ``url`` is a URL of one of ``schemes`` whose host and port parse."""
    try:
        parts = urlsplit(url)
        if "," not in parts.netloc:  # libpq's multi-host form has no single host or port
            parts.hostname  # noqa: B018 - raises for a malformed IPv6 literal
            parts.port  # noqa: B018 - raises for a port that is not 0-65535
    except ValueError as exc:
        reason = str(exc).split(" as ")[0]  # urllib quotes the bad port text after "as"
        raise ValueError(f"its host or port does not parse ({reason})") from None
    if parts.scheme not in schemes:
        shown = " or ".join(f"{scheme}://" for scheme in schemes)
        given = f"{parts.scheme}://" if parts.scheme else "one without a scheme"
        raise ValueError(f"must be a {shown} URL, not {given}")


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
