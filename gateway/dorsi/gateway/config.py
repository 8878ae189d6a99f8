"""Gateway configuration: a TOML file, overridden by ``DORSI_*`` environment variables.

Example (``/etc/dorsi/gateway.toml``)::

    gateway_id = "gw-livingroom"
    patient = "p-7f3a"                      # the patient's pseudonymous id from the clinic
    state_dir = "/var/lib/dorsi-gateway"    # outboxes and status (default)

    [broker]
    url = "mqtts://clinic.example.org:8883"
    username = "gw-livingroom"              # default credentials for every sensor
    password_file = "/etc/dorsi/broker-password"   # or password = "…" / DORSI_BROKER_PASSWORD
    ca_file = "/etc/dorsi/clinic-ca.pem"

    [[sensors]]
    device = "dorsi-1a2b"                   # the sensor's id: its advertised name (box label)
    side = "left"
    # address = "C4:…"  rate_hz = 104  mounting = "auto"  username = …  password_file = …

    [outbox]
    max_mb = 512                            # per sensor

Environment overrides: ``DORSI_GATEWAY_ID``, ``DORSI_PATIENT``, ``DORSI_STATE_DIR``,
``DORSI_BROKER_URL``, ``DORSI_BROKER_USERNAME``, ``DORSI_BROKER_PASSWORD``,
``DORSI_BROKER_CA_FILE``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dorsi.gateway.mqtt_link import BrokerConfig
from dorsi.gateway.topics import check_id

DEFAULT_STATE_DIR = Path("/var/lib/dorsi-gateway")
SUPPORTED_RATES_HZ = (52, 104, 208)


_TOML_NAMES = {
    str: "a quoted string",
    int: "a whole number",
    float: "a number",
    dict: "a table",
    list: "a list",
}


class ConfigError(ValueError):
    """The configuration is invalid; the message says which key and what to write instead."""


@dataclass(frozen=True)
class SensorConfig:
    """One brace sensor: its id (advertised name), side, and how to reach it and the broker."""

    device: str
    side: Literal["left", "right"]
    broker: BrokerConfig
    address: str | None = None
    rate_hz: int = 104
    mounting: Literal["auto", "body"] = "auto"


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str
    patient: str
    sensors: tuple[SensorConfig, ...]
    state_dir: Path = DEFAULT_STATE_DIR
    outbox_max_bytes: int = 512 * 1024 * 1024
    raw_buffer_hours: float = 24.0
    status_interval_s: float = 60.0
    battery_interval_s: float = 600.0
    time_sync_interval_s: float = 600.0

    def outbox_path(self, sensor: SensorConfig) -> Path:
        """Each sensor has its own outbox (and MQTT session)."""
        return self.state_dir / f"outbox-{sensor.device}.db"


def _get(
    table: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    default: Any = None,
) -> Any:
    value = table.get(key, default)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(_TOML_NAMES.get(k, k.__name__) for k in kinds)
        raise ConfigError(f"{where}{key} must be {names}, got {value!r}")
    return value


def _check_keys(table: Mapping[str, Any], known: set[str], where: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown setting {where}{key}{hint}")


def parse_config(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Validate a parsed TOML document, applying environment overrides."""
    env = os.environ if env is None else env
    gateway_id = env.get("DORSI_GATEWAY_ID") or _get(data, "gateway_id", str, "")
    patient = env.get("DORSI_PATIENT") or _get(data, "patient", str, "")
    if not gateway_id:
        raise ConfigError('gateway_id is required (e.g. gateway_id = "gw-livingroom")')
    if not patient:
        raise ConfigError("patient is required: the patient's pseudonymous id from the clinic")
    try:
        check_id(gateway_id, "gateway")
        check_id(patient, "patient")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    broker_table = _get(data, "broker", dict, "", {})
    _check_keys(
        broker_table,
        {"url", "username", "password", "password_file", "ca_file", "protocol"},
        "broker.",
    )
    url = env.get("DORSI_BROKER_URL") or _get(broker_table, "url", str, "broker.")
    if not url:
        raise ConfigError("broker.url is required (e.g. mqtts://clinic.example.org:8883)")
    default_user = env.get("DORSI_BROKER_USERNAME") or _get(
        broker_table, "username", str, "broker."
    )
    default_password = env.get("DORSI_BROKER_PASSWORD") or _password(broker_table, "broker.")
    ca_file = env.get("DORSI_BROKER_CA_FILE") or _get(broker_table, "ca_file", str, "broker.")
    protocol = env.get("DORSI_BROKER_PROTOCOL") or _get(
        broker_table, "protocol", str, "broker.", "5"
    )

    sensors_list = _get(data, "sensors", list, "", [])
    if not sensors_list:
        raise ConfigError(
            'at least one [[sensors]] table is required (device = "dorsi-…", side = "left")'
        )
    sensors = []
    for i, table in enumerate(sensors_list):
        where = f"sensors[{i}]."
        if not isinstance(table, dict):
            raise ConfigError(f"sensors[{i}] must be a table")
        _check_keys(
            table,
            {
                "device",
                "side",
                "address",
                "rate_hz",
                "mounting",
                "username",
                "password",
                "password_file",
            },
            where,
        )
        device = _get(table, "device", str, where)
        if not device:
            raise ConfigError(
                f'{where}device is required: the sensor id on its label, e.g. "dorsi-1a2b"'
            )
        try:
            check_id(device, "device")
        except ValueError as exc:
            raise ConfigError(f"{where}{exc}") from None
        side = _get(table, "side", str, where)
        if side not in ("left", "right"):
            raise ConfigError(f'{where}side must be "left" or "right", got {side!r}')
        rate = _get(table, "rate_hz", int, where, 104)
        if rate not in SUPPORTED_RATES_HZ:
            raise ConfigError(f"{where}rate_hz must be one of {SUPPORTED_RATES_HZ}, got {rate}")
        mounting = _get(table, "mounting", str, where, "auto")
        if mounting not in ("auto", "body"):
            raise ConfigError(f'{where}mounting must be "auto" or "body", got {mounting!r}')
        try:
            broker = BrokerConfig(
                url=url,
                client_id=f"dorsi-{device}",
                username=_get(table, "username", str, where) or default_user,
                password=_password(table, where) or default_password,
                ca_file=ca_file,
                protocol=protocol,
            )
        except ValueError as exc:
            raise ConfigError(f"broker: {exc}") from None
        sensors.append(
            SensorConfig(
                device=device,
                side=side,
                broker=broker,
                address=_get(table, "address", str, where),
                rate_hz=rate,
                mounting=mounting,
            )
        )
    if len({s.side for s in sensors}) != len(sensors):
        raise ConfigError("two sensors have the same side; a patient has one left and one right")
    if len({s.device for s in sensors}) != len(sensors):
        raise ConfigError("two sensors have the same device id")

    outbox = _get(data, "outbox", dict, "", {})
    _check_keys(outbox, {"max_mb"}, "outbox.")
    max_mb = _get(outbox, "max_mb", int, "outbox.", 512)
    if max_mb <= 0:
        raise ConfigError(f"outbox.max_mb must be positive, got {max_mb}")
    state_dir = Path(
        env.get("DORSI_STATE_DIR") or _get(data, "state_dir", str, "", str(DEFAULT_STATE_DIR))
    )
    raw = _get(data, "raw_buffer", dict, "", {})
    _check_keys(raw, {"hours"}, "raw_buffer.")
    hours = _get(raw, "hours", (int, float), "raw_buffer.", 24.0)
    _check_keys(
        data,
        {"gateway_id", "patient", "state_dir", "broker", "sensors", "outbox", "raw_buffer"},
        "",
    )
    return GatewayConfig(
        gateway_id=gateway_id,
        patient=patient,
        sensors=tuple(sensors),
        state_dir=state_dir,
        outbox_max_bytes=max_mb * 1024 * 1024,
        raw_buffer_hours=float(hours),
    )


def _password(table: Mapping[str, Any], where: str) -> str | None:
    password: str | None = _get(table, "password", str, where)
    password_file = _get(table, "password_file", str, where)
    if password is None and password_file:
        try:
            return Path(password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{where}password_file {password_file!r}: {exc.strerror}") from None
    return password


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate a TOML config file."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (see docs for an example)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return parse_config(data, env)
