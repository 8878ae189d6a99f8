"""One settings object from a TOML file plus ``DORSI_<SECTION>__<KEY>`` environment variables.

Outside ``environment = "development"`` placeholder secrets (``change-me`` and friends, or an
empty session secret) are refused, so a clinic cannot run on the example configuration.

Example ``dorsi-server.toml``::

    environment = "production"
    secret_key = "…long random text…"
    registry_path = "/var/lib/dorsi/registry.sqlite"

    [store]
    kind = "influx"            # or "sqlite"
    influx_url = "http://127.0.0.1:8086"
    influx_database = "dorsi"

    [mqtt]
    host = "127.0.0.1"
    port = 1883
    client_id = "dorsi-server-1"

    [security]
    cookies_secure = true        # browsers reach the dashboard over https (TLS proxy)
    forwarded_allow_ips = "127.0.0.1"   # the proxy whose X-Forwarded-For/-Proto is trusted
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dorsi.server.influx_store import InfluxConfig, InfluxStore
from dorsi.server.ingest import IngestOptions, MqttConfig
from dorsi.server.ratelimit import LoginLimits
from dorsi.server.sqlite_store import SQLiteStore
from dorsi.server.store import Store

DEFAULT_SHARE_GROUP = "dorsi-server"
PLACEHOLDERS = frozenset({"", "change-me", "changeme", "secret", "password", "dorsi", "example"})
ENV_PREFIX = "DORSI_"


class StoreSettings(BaseModel):
    """Which time-series store and how to reach it."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["sqlite", "influx"] = "sqlite"
    sqlite_path: Path = Path("dorsi-data.sqlite")
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "dorsi"
    influx_username: str | None = None
    influx_password: str | None = None
    batch_size: int = Field(default=5000, ge=1, le=5000)
    retry_for_s: float = Field(default=10.0, gt=0)

    def open(self) -> Store:
        """A bootstrapped store."""
        store: Store
        if self.kind == "sqlite":
            store = SQLiteStore(self.sqlite_path)
        else:
            store = InfluxStore(
                InfluxConfig(
                    url=self.influx_url,
                    database=self.influx_database,
                    username=self.influx_username,
                    password=self.influx_password,
                    batch_size=self.batch_size,
                    retry_for_s=self.retry_for_s,
                )
            )
        store.bootstrap()
        return store


def default_share_group(secret_key: str) -> str:
    """``dorsi-server`` without a secret key (development), else ``dorsi-`` + 96 bits of
    HMAC-SHA-256(secret_key): a name devices cannot guess. Mosquitto's ACL file does not restrict
    subscriptions, so a device that joined a known group would be handed its share of every
    patient's messages and, having no read access, drop them."""
    if not secret_key:
        return DEFAULT_SHARE_GROUP
    digest = hmac.new(secret_key.encode(), b"dorsi mqtt share group", hashlib.sha256)
    return f"dorsi-{digest.hexdigest()[:24]}"


class MqttSettings(BaseModel):
    """The broker the ingest worker subscribes to."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "dorsi-server-1"
    username: str | None = None
    password: str | None = None
    share_group: str | None = Field(default=None, pattern=r"^[^/+#]{1,64}$")
    """Shared-subscription group of the ingest workers; default :func:`default_share_group`."""
    receive_maximum: int = Field(default=1000, ge=1, le=65535)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    batch_max_strides: int = Field(default=5000, ge=1)
    linger_s: float = Field(default=0.05, ge=0)
    rollup_interval_s: float = Field(default=5.0, gt=0)
    rollup_read_budget_s: float = Field(default=1.0, gt=0)
    """Per rollup refresh, time spent reading days from the store before the rest wait."""
    protocol: Literal["5", "3.1.1"] = "5"
    """MQTT version; "3.1.1" for brokers without MQTT 5 (no shared subscription)."""
    subscription: Literal["partitioned", "shared"] = "partitioned"
    """How N workers split the load: "partitioned" (each worker subscribes to everything and
    keeps the patients it owns; right for Mosquitto, which drops messages for shared
    subscriptions across a restart) or "shared" (MQTT 5 shared subscription in
    ``share_group``; for clustered brokers such as EMQX or HiveMQ)."""
    worker_index: int = Field(default=0, ge=0)
    """This worker's number, 0 … ``worker_count`` − 1 (partitioned)."""
    worker_count: int = Field(default=1, ge=1, le=64)
    """How many partitioned workers run; every one must have the same value."""

    @model_validator(mode="after")
    def _partition_fits(self) -> MqttSettings:
        if self.worker_index >= self.worker_count:
            raise ValueError(
                f"mqtt.worker_index {self.worker_index} must be below mqtt.worker_count "
                f"{self.worker_count} (workers are numbered from 0)"
            )
        if self.subscription == "shared" and self.protocol != "5":
            raise ValueError('mqtt.subscription "shared" needs mqtt.protocol "5"')
        return self

    def config(self) -> MqttConfig:
        """The worker's broker configuration."""
        return MqttConfig(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            username=self.username,
            password=self.password,
            share_group=self.share_group or DEFAULT_SHARE_GROUP,
            receive_maximum=self.receive_maximum,
            session_expiry_s=self.session_expiry_s,
            protocol=self.protocol,
            subscription=self.subscription,
            worker_index=self.worker_index,
            worker_count=self.worker_count,
        )

    def options(self) -> IngestOptions:
        """Batching options."""
        return IngestOptions(
            self.batch_max_strides,
            self.linger_s,
            self.rollup_interval_s,
            self.rollup_read_budget_s,
        )


class SecuritySettings(BaseModel):
    """Log-in throttling, cookie flags and which reverse proxy to believe."""

    model_config = ConfigDict(extra="forbid")
    login_max_failures_per_user: int = Field(default=5, ge=1, le=1000)
    """Failed log-ins per username within ``login_window_s`` before 429."""
    login_max_failures_per_ip: int = Field(default=20, ge=1, le=100_000)
    """Failed log-ins per client address within ``login_window_s`` before 429."""
    login_window_s: float = Field(default=900.0, gt=0, le=7 * 24 * 3600)
    cookies_secure: bool = False
    """Mark cookies ``Secure`` (https only) even when the request reaching dorsi is plain http,
    as behind a TLS-terminating proxy; https requests always get ``Secure`` cookies."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Addresses (comma-separated, or ``*``) whose X-Forwarded-For/-Proto headers uvicorn trusts;
    the client address of audit entries and log-in limits comes from there."""

    def login_limits(self) -> LoginLimits:
        """The log-in throttle's limits."""
        return LoginLimits(
            max_failures_per_user=self.login_max_failures_per_user,
            max_failures_per_ip=self.login_max_failures_per_ip,
            window_s=self.login_window_s,
        )


class Settings(BaseModel):
    """Everything dorsi-server reads at start."""

    model_config = ConfigDict(extra="forbid")
    environment: Literal["development", "production"] = "development"
    secret_key: str = ""
    registry_path: Path = Path("dorsi-registry.sqlite")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    session_hours: float = Field(default=12.0, gt=0)
    store: StoreSettings = StoreSettings()
    mqtt: MqttSettings = MqttSettings()
    security: SecuritySettings = SecuritySettings()

    @model_validator(mode="after")
    def _share_group_from_secret(self) -> Settings:
        if self.mqtt.share_group is None:
            self.mqtt.share_group = default_share_group(self.secret_key)
        return self

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> Settings:
        if self.environment == "development":
            return self
        secrets = {
            "secret_key": self.secret_key,
            "store.influx_password": self.store.influx_password,
            "mqtt.password": self.mqtt.password,
        }
        for name, value in secrets.items():
            if name == "secret_key" and len(value or "") < 32:
                raise ValueError("secret_key must be at least 32 characters outside development")
            if value is not None and value.strip().lower() in PLACEHOLDERS:
                raise ValueError(f"{name} is a placeholder ({value!r}); set a real secret")
        return self


def _overlay(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        if len(path) == 1:
            merged[path[0]] = value
        elif len(path) == 2:
            merged.setdefault(path[0], {})[path[1]] = value
    return merged


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (TOML, optional), then ``DORSI_…`` variables (e.g. ``DORSI_STORE__KIND``)."""
    data: dict[str, Any] = {}
    if path is not None:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    return Settings.model_validate(_overlay(data, os.environ if environ is None else environ))
