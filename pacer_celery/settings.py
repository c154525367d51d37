"""All of PACER's configuration, read once from the environment (and a ``.env`` file).

The original PACER's variable names are kept (``PACER_RMQ_HOST``, ...). Secrets are
``SecretStr`` so they print as ``**********`` wherever settings are shown or logged.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pacer_celery.errors import ConfigurationError

Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._:/-]+$")]


def _icat(name: str) -> AliasChoices:
    """ICAT variables are shared with python-icat tooling and carry no PACER_ prefix."""
    return AliasChoices(name, f"PACER_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PACER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # RabbitMQ
    rmq_host: str = "127.0.0.1"
    rmq_port: Port = 5672
    rmq_username: str = "guest"
    rmq_password: SecretStr = SecretStr("guest")
    rmq_virtual_host: str = "/"
    rmq_use_tls: bool = False
    rmq_exchange: Name = "pacer"
    #: Overrides of the routing keys PACER's own bridges name (uos.users, ...).
    rmq_users_routing_key: Name | None = None
    rmq_proposals_routing_key: Name | None = None
    rmq_datasets_routing_key: Name | None = None
    rmq_datafiles_routing_key: Name | None = None
    #: Overrides for any message type, a facility's too: {"sample-update": "uos.samples"}.
    rmq_routing_keys: dict[str, Name] = {}
    #: A URL that overrides the RMQ_* parts, e.g. ``memory://`` for the demo.
    broker_url: SecretStr | None = None

    # Celery
    result_backend: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    worker_prefetch_multiplier: int = Field(default=1, ge=1, le=1000)
    #: A worker runs a chain's next link in the same task when it has its step, instead
    #: of publishing it and waiting for it to come back (see worker.runtime).
    inline_links: bool = True
    bridge_prefetch: int = Field(default=100, ge=1, le=10000)
    #: Comma-separated modules that register a facility's own bridges when imported.
    bridge_modules: str = ""

    # Message handling
    max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_retries: int = Field(default=8, ge=0, le=100)
    retry_backoff_seconds: float = Field(default=2.0, gt=0)
    retry_backoff_max_seconds: float = Field(default=300.0, gt=0)
    missing_investigation_timeout: float = Field(default=600.0, ge=0)
    strict_parameters: bool = True
    #: Disables publishing from the producer explicitly (the original's TESTING_MODE).
    producer_disabled: bool = False

    # The journal
    #: SQLAlchemy URL (postgresql://... or sqlite:///PATH); default: journal.default_url().
    journal_url: SecretStr | None = None
    #: A message that should be moving but shows no sign of it for this long is re-dispatched.
    stalled_after_seconds: float = Field(default=300.0, gt=0)
    max_redispatch: int = Field(default=3, ge=0, le=100)
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    #: How long a worker's hold on a message (and its object's lock) lasts unless renewed.
    step_lease_seconds: float = Field(default=30.0, ge=1)
    #: Starts of one step attempt (each ended by its worker dying) before it is dead-lettered.
    max_worker_losses: int = Field(default=3, ge=1, le=100)
    #: Per-object order (the newest message wins). Off only to measure what it costs.
    ordering: bool = True

    # ICAT
    icat_server_url: str | None = Field(default=None, validation_alias=_icat("ICAT_SERVER_URL"))
    icat_auth_plugin: str = Field(default="db", validation_alias=_icat("ICAT_AUTH_PLUGIN"))
    icat_auth_username: str | None = Field(
        default=None, validation_alias=_icat("ICAT_AUTH_USERNAME")
    )
    icat_auth_password: SecretStr | None = Field(
        default=None, validation_alias=_icat("ICAT_AUTH_PASSWORD")
    )
    icat_check_cert: bool = Field(default=True, validation_alias=_icat("ICAT_CHECK_CERT"))
    icat_facility: str | None = None
    icat_user_prefix: Name = "uos"
    icat_chunk_size: int = Field(default=500, ge=1, le=10000)
    icat_reference_ttl_seconds: float = Field(default=300.0, ge=0)

    # The dashboard (``pacer dashboard``)
    #: ``basic`` (PACER_DASHBOARD_USERS or _USERS_FILE), ``header`` (a reverse proxy
    #: authenticates and names the user), or ``none``: a local demo only.
    dashboard_auth: Literal["basic", "header", "none"] = "basic"
    #: ``name:password,...`` for basic auth.
    dashboard_users: SecretStr | None = None
    #: An htpasswd file of bcrypt entries (``htpasswd -B``), for basic auth.
    dashboard_users_file: Path | None = None
    dashboard_user_header: str = Field(default="X-Remote-User", pattern=r"^[A-Za-z0-9-]{1,64}$")
    #: The addresses the user header is believed from (the reverse proxy's).
    dashboard_trusted_proxies: str = "127.0.0.1,::1"
    #: Signs the forms' CSRF tokens; random per process when unset (set it for several
    #: dashboards behind one address).
    dashboard_secret: SecretStr | None = None
    dashboard_host: str = "127.0.0.1"
    dashboard_port: Port = 8080
    #: How much of a message body the dashboard shows.
    dashboard_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: The most messages one replay or purge from the dashboard may take (more: the CLI).
    dashboard_max_bulk: int = Field(default=1000, ge=1, le=100_000)
    #: Flower's address, for links to each task (``{flower}/task/{task_id}``).
    flower_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")

    @field_validator("rmq_virtual_host")
    @classmethod
    def _vhost_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty (use '/' for the default virtual host)")
        return value

    def routing_key_for(self, message_type: str, default: str | None) -> str | None:
        """A message type's routing key: a setting's if one is set, else ``default``
        (the one its bridge names)."""
        named = {
            "user-update": self.rmq_users_routing_key,
            "proposal-update": self.rmq_proposals_routing_key,
            "dataset-ingestion": self.rmq_datasets_routing_key,
            "datafile-ingestion": self.rmq_datafiles_routing_key,
        }.get(message_type)
        return named or self.rmq_routing_keys.get(message_type) or default

    def bridge_module_names(self) -> list[str]:
        return [m.strip() for m in self.bridge_modules.split(",") if m.strip()]

    def broker(self) -> str:
        """The broker URL, secrets included: pass it to kombu/Celery, never to a log."""
        if self.broker_url is not None:
            return self.broker_url.get_secret_value()
        scheme = "amqps" if self.rmq_use_tls else "amqp"
        user = quote(self.rmq_username, safe="")
        password = quote(self.rmq_password.get_secret_value(), safe="")
        vhost = quote(self.rmq_virtual_host, safe="")
        return f"{scheme}://{user}:{password}@{self.rmq_host}:{self.rmq_port}/{vhost}"

    def journal(self) -> str:
        """The journal's database URL, secrets included: never pass it to a log."""
        if self.journal_url is not None:
            return self.journal_url.get_secret_value()
        return default_journal_url()

    def redacted(self) -> dict[str, object]:
        """What ``pacer config`` shows: each setting under its variable's name with where
        its value came from, the effective broker and journal URLs with their passwords
        masked, and what looks wrong."""
        values = self.model_dump(mode="json")
        environ = {k.upper(): v for k, v in os.environ.items()}
        dotenv = {k.upper(): v for k, v in dotenv_values(self.model_config["env_file"]).items()}
        shown: dict[str, dict[str, object]] = {}
        for name in type(self).model_fields:
            variable = next((v for v in env_names(name) if v in environ or v in dotenv), env_names(name)[0])
            origin = "environment" if variable in environ else ".env" if variable in dotenv else "default"
            shown[variable] = {"value": values[name], "from": origin}
        warnings = [f"{v}: matches no setting{_did_you_mean(v)}" for v in unknown_variables([*environ, *dotenv])]
        if not self.icat_server_url:
            warnings.insert(0, "ICAT_SERVER_URL is not set: workers cannot reach ICAT")
        return {
            "settings": shown,
            "broker_url": masked_url(self.broker()),
            "journal_url": masked_url(self.journal()),
            "warnings": warnings,
        }


def env_names(field: str) -> list[str]:
    """The variables a setting is read from, the preferred one first."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).upper() for choice in alias.choices]
    return [f"PACER_{field.upper()}"]


#: Variables of the test suite (see architecture.md), not of PACER itself.
_NOT_SETTINGS = ("PACER_TEST_",)


def unknown_variables(names: list[str]) -> list[str]:
    """The ``PACER_*`` names among ``names`` that no setting reads: typos, silently ignored."""
    known = {v for field in Settings.model_fields for v in env_names(field)}
    return sorted({
        n for n in names if n.startswith("PACER_") and n not in known and not n.startswith(_NOT_SETTINGS)
    })


def _did_you_mean(variable: str) -> str:
    known = [v for field in Settings.model_fields for v in env_names(field)]
    close = difflib.get_close_matches(variable, known, n=1, cutoff=0.8)
    return f" (did you mean {close[0]}?)" if close else ""


def masked_url(url: str) -> str:
    """``url`` with its password, if any, shown as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}").geturl()


def default_journal_url() -> str:
    """A SQLite file in the user's state directory: ``$XDG_STATE_HOME/pacer/journal.sqlite``
    (``~/.local/state/pacer/journal.sqlite`` without XDG_STATE_HOME)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite:///{Path(state) / 'pacer' / 'journal.sqlite'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; a bad value stops the program with a readable message."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{_env_name(err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None


def _env_name(loc: tuple) -> str:
    field = str(loc[0]) if loc else "?"
    if field.upper().startswith(("ICAT_", "PACER_")):
        return field.upper()
    return f"PACER_{field.upper()}"
