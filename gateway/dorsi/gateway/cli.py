"""`dorsi-gateway`: find brace sensors, run the home gateway, and show what it is doing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from dorsi.firmware_protocol import BATTERY_LEVEL_CHAR_UUID, SERVICE_UUID
from dorsi.gateway.config import DEFAULT_STATE_DIR, ConfigError, load_config
from dorsi.gateway.runner import STATUS_FILE, Gateway
from dorsi.gateway.simulate import SimulationUnavailableError

DEFAULT_CONFIG = Path("/etc/dorsi/gateway.toml")
Backends = tuple[type[BaseBleakScanner] | None, type[BaseBleakClient] | None]


class JsonFormatter(logging.Formatter):
    """One JSON object per line (for journald / log shippers)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "t": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler], force=True)
    for noisy in ("bleak", "bumble", "paho"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dorsi-gateway",
        description="dorsi home gateway: reads brace sensors over Bluetooth LE, finds strides, "
        "and delivers them to the clinic's MQTT broker.",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = sub.add_parser(
        "scan", help="list dorsi sensors in range with signal strength and battery"
    )
    scan.add_argument("--timeout", type=float, default=8.0, help="scan time in s (default 8)")
    scan.add_argument(
        "--no-battery", action="store_true", help="do not connect to read battery levels"
    )

    run = sub.add_parser("run", help="run the gateway until stopped (Ctrl-C or SIGTERM)")
    run.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"TOML config (default {DEFAULT_CONFIG})",
    )
    run.add_argument(
        "--simulate",
        metavar="SCENARIO",
        choices=["healthy", "footdrop_mild", "footdrop_severe", "mixed_day"],
        help="no Bluetooth: walk virtual sensors through SCENARIO (healthy, footdrop_mild, "
        "footdrop_severe, mixed_day; needs pip install 'dorsi-firmware-protocol[sensor]')",
    )

    status = sub.add_parser("status", help="show link, queue, outbox backlog and last stride")
    status.add_argument("--config", type=Path, default=None, help="read state_dir from this config")
    status.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"state directory (default {DEFAULT_STATE_DIR})",
    )
    status.add_argument("--json", action="store_true", help="print the raw status JSON")
    return parser


# -- scan --------------------------------------------------------------------------------------
async def scan_sensors(
    timeout_s: float, *, read_battery: bool = True, backends: Backends = (None, None)
) -> list[dict[str, Any]]:
    """dorsi sensors in range: name, address, RSSI (dBm) and battery (%, None if unread)."""
    scanner_backend, client_backend = backends
    kwargs: dict[str, Any] = {"service_uuids": [SERVICE_UUID], "return_adv": True}
    if scanner_backend is not None:
        kwargs["backend"] = scanner_backend
    found = await BleakScanner.discover(timeout_s, **kwargs)
    sensors = []
    for device, adv in found.values():
        entry: dict[str, Any] = {
            "name": adv.local_name or device.name,
            "address": device.address,
            "rssi_dbm": adv.rssi,
            "battery_pct": None,
        }
        if read_battery:
            client_kwargs: dict[str, Any] = {"timeout": 10.0}
            if client_backend is not None:
                client_kwargs["backend"] = client_backend
            try:
                async with BleakClient(device, **client_kwargs) as client:
                    level = bytes(await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID))
                    entry["battery_pct"] = level[0] if level else None
            except (BleakError, TimeoutError, OSError) as exc:
                entry["error"] = str(exc)
        sensors.append(entry)
    return sorted(sensors, key=lambda s: -(s["rssi_dbm"] or -200))


def _print_scan(sensors: list[dict[str, Any]]) -> None:
    if not sensors:
        print(
            "no dorsi sensor found: is it charged and within a few metres? "
            "(a sensor connected to another gateway does not advertise)"
        )
        return
    print(f"{'name':<14} {'address':<19} {'RSSI':>8} {'battery':>8}")
    for s in sensors:
        battery = "?" if s["battery_pct"] is None else f"{s['battery_pct']} %"
        print(f"{s['name'] or '?':<14} {s['address']:<19} {s['rssi_dbm']:>4} dBm {battery:>8}")


# -- run ---------------------------------------------------------------------------------------
async def run_gateway(
    config_path: Path, *, backends: Backends = (None, None), simulate: str | None = None
) -> None:
    config = load_config(config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    logging.getLogger(__name__).info(
        "gateway %s for patient %s: %s",
        config.gateway_id,
        config.patient,
        ", ".join(f"{s.device} ({s.side})" for s in config.sensors),
    )
    if simulate is not None:
        from dorsi.gateway.simulate import run_simulated

        await run_simulated(config, stop, scenario=simulate)
        return
    gateway = Gateway(config, scanner_backend=backends[0], client_backend=backends[1])
    await gateway.run(stop)


# -- status ------------------------------------------------------------------------------------
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def print_status(state: dict[str, Any], now_s: float) -> None:
    age = now_s - float(state.get("updated_utc_s", 0))
    if not state.get("running", True):
        running = f"stopped ({_age(age)})"
    elif age < 10:
        running = "running"
    else:
        running = f"not running (status from {_age(age)}; did it crash?)"
    print(f"gateway {state.get('gateway_id')} for patient {state.get('patient')}: {running}")
    for s in state.get("sensors", []):
        pipeline = s.get("pipeline", {})
        last = pipeline.get("last_stride_utc_s")
        battery = "?" if s.get("battery_pct") is None else f"{s['battery_pct']} %"
        print(f"  {s['device']} ({s['side']}): link {s['link']}, battery {battery}")
        print(
            f"    queue {s.get('queue_depth', 0)} packets, outbox backlog "
            f"{s.get('outbox_backlog')} messages, broker "
            f"{'connected' if s.get('broker_connected') else 'not connected'}"
        )
        print(
            f"    strides {pipeline.get('strides', 0)}, last stride "
            f"{_age(None if last is None else now_s - float(last))}, malformed packets "
            f"{pipeline.get('malformed', 0)}, lost packets {pipeline.get('lost_packets', 0)}"
        )


def _state_dir(args: argparse.Namespace) -> Path:
    if args.state_dir is not None:
        return Path(args.state_dir)
    if args.config is not None:
        return load_config(args.config).state_dir
    if DEFAULT_CONFIG.exists():
        return load_config(DEFAULT_CONFIG).state_dir
    return DEFAULT_STATE_DIR


def main(argv: Sequence[str] | None = None, *, backends: Backends = (None, None)) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level, args.log_format)
    try:
        if args.command == "scan":
            sensors = asyncio.run(
                scan_sensors(args.timeout, read_battery=not args.no_battery, backends=backends)
            )
            _print_scan(sensors)
            return 0 if sensors else 1
        if args.command == "run":
            asyncio.run(run_gateway(args.config, backends=backends, simulate=args.simulate))
            return 0
        state_dir = _state_dir(args)
        path = state_dir / STATUS_FILE
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            print(
                f"no status at {path}: the gateway has not run yet with this state_dir "
                "(start it with `dorsi-gateway run` or `systemctl start dorsi-gateway`)",
                file=sys.stderr,
            )
            return 1
        if args.json:
            print(json.dumps(state, indent=2))
        else:
            print_status(state, time.time())
        return 0
    except ConfigError as exc:
        print(f"dorsi-gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    except SimulationUnavailableError as exc:
        print(f"dorsi-gateway: {exc}", file=sys.stderr)
        return 2
    except BleakError as exc:
        print(
            f"dorsi-gateway: Bluetooth error: {exc} (is the adapter on? `bluetoothctl power on`)",
            file=sys.stderr,
        )
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
