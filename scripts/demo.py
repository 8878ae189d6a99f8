"""The zero-setup demo: the whole dorsi chain on embedded defaults, in one command.

Started by ``scripts/demo.sh`` (which installs everything first). It

1. starts an MQTT broker on a free loopback port: a private Mosquitto when it is installed
   (MQTT 5), else the embedded amqtt broker (MQTT 3.1.1; gateway and server fall back to 3.1.1);
2. seeds three demo patients with about six months of daily walking (once; cached in the state
   directory): walks simulated by ``dorsi.firmware_protocol.sim``, analysed by the real
   ``dorsi.signal``, sampled into each day and written through the server's CSV import path
   (``dorsi.server.importer.import_csv``: the same validation and write as MQTT ingest), plus
   the therapist account, the patients' interventions and their paired sensors;
3. starts ``dorsi-server run`` (FastAPI + one ingest worker) on the embedded SQLite store;
4. runs one virtual brace sensor (bumble) and one real ``dorsi.gateway`` Gateway per patient,
   connected through the bumble-backed bleak backend, streaming live walking into the broker;
5. prints the dashboard URL and the login, and stops everything cleanly on Ctrl-C (SIGINT) or
   SIGTERM. A second run reuses the seeded store and the gateways' outboxes.

Times are UTC. History days end yesterday; live strides carry the host's current time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED_VERSION = 1
"""Bump when the seeding changes: a stored seed with another version is rebuilt."""
POOL_VERSION = 1
STYLES = ("healthy", "footdrop_mild", "footdrop_severe")
"""Simulator scenarios by severity 0, 1, 2."""
POOL_SECONDS = 150.0
POOL_SEEDS = 3
RATE_HZ = 104
THERAPIST = "therapist"
THERAPIST_PASSWORD = "dorsi-demo"  # a demo account on loopback, printed on purpose
LIVE_SECONDS = 900.0
"""Length of each live sensor's simulated walk (s); it loops."""


@dataclass(frozen=True)
class Event:
    """A dated clinical event, ``days_ago`` days before today."""

    days_ago: int
    kind: str
    note: str


@dataclass(frozen=True)
class DemoPatient:
    """One demo patient: registry entry, sensor, and the severity of foot drop over time.

    ``severity`` maps days before today (> 0 in the past) to 0 (healthy gait), 1 (mild foot
    drop) or 2 (severe), fractional values mixing the two neighbouring walking patterns.
    """

    id: str
    name: str
    side: str
    brace: str
    address: str
    seed: int
    severity: Callable[[int], float]
    events: tuple[Event, ...]
    strides_per_day: int

    @property
    def device(self) -> str:
        octets = self.address.split(":")
        return "dorsi-" + (octets[-2] + octets[-1]).upper()

    @property
    def live_scenario(self) -> str:
        return STYLES[min(2, max(0, round(self.severity(0))))]


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _recovering_well(days_ago: int) -> float:
    """Nerve decompression 150 days ago: severe before, recovery from ~2 months on."""
    since = 150 - days_ago
    if since < 0:
        return 1.9
    return 1.9 - 1.75 * _logistic((since - 80) / 18)


def _recovering_slowly(days_ago: int) -> float:
    """Tendon transfer 120 days ago: a post-operative dip, then slow gains."""
    since = 120 - days_ago
    if since < 0:
        return 1.6
    if since < 21:
        return 2.0
    return max(0.9, 2.0 - 0.75 * (since - 21) / 100)


def _worsening(days_ago: int) -> float:
    """Progressive foot drop: mild six months ago, nearly severe now."""
    return min(2.0, 0.6 + 1.3 * ((180 - days_ago) / 180) ** 1.5) if days_ago < 180 else 0.6


PATIENTS: tuple[DemoPatient, ...] = (
    DemoPatient(
        "p-demo-anna",
        "Anna Berger (demo)",
        "left",
        "carbon AFO",
        "C4:D0:00:00:A0:01",
        11,
        _recovering_well,
        (
            Event(170, "brace fitting", "carbon AFO, left"),
            Event(150, "surgery", "peroneal nerve decompression at the fibular head, left"),
            Event(60, "physiotherapy", "started dorsiflexor strengthening"),
        ),
        700,
    ),
    DemoPatient(
        "p-demo-ben",
        "Ben Okafor (demo)",
        "right",
        "posterior leaf spring AFO",
        "C4:D0:00:00:B0:02",
        22,
        _recovering_slowly,
        (
            Event(175, "brace fitting", "posterior leaf spring AFO, right"),
            Event(120, "surgery", "tibialis posterior tendon transfer, right"),
            Event(75, "brace change", "lighter AFO after cast removal"),
        ),
        500,
    ),
    DemoPatient(
        "p-demo-carla",
        "Carla Nunes (demo)",
        "left",
        "carbon AFO",
        "C4:D0:00:00:C0:03",
        33,
        _worsening,
        (
            Event(178, "brace fitting", "carbon AFO, left"),
            Event(30, "review", "foot drop worsening; nerve conduction study ordered"),
        ),
        450,
    ),
)


def log(message: str) -> None:
    """One line on stdout, flushed (the test reads it through a pipe)."""
    print(message, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# -- seeding --------------------------------------------------------------------------------------


def stride_pools(cache: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Strides found by ``dorsi.signal`` in simulated walks, per side and style (cached).

    Event times are relative to the stride's initial contact (``ic_t`` = 0).
    """
    path = cache / f"stride-pools-v{POOL_VERSION}.json"
    if path.is_file():
        loaded: dict[str, dict[str, list[dict[str, Any]]]] = json.loads(path.read_text())
        return loaded
    from dorsi.firmware_protocol.sim import simulate
    from dorsi.server.store import STRIDE_INT_FIELDS
    from dorsi.signal.pipeline import analyze

    pools: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for side in ("left", "right"):
        pools[side] = {}
        for k, style in enumerate(STYLES):
            rows: list[dict[str, Any]] = []
            for seed in range(POOL_SEEDS):
                rec = simulate(style, POOL_SECONDS, float(RATE_HZ), side, seed=1000 * k + seed + 1)
                result = analyze(
                    rec.acc_mps2, rec.gyr_dps, sampling_rate_hz=float(RATE_HZ), side=side
                )
                for stride in result.to_records():
                    row: dict[str, Any] = {
                        name: None
                        if value is None
                        else int(value)
                        if name in STRIDE_INT_FIELDS
                        else float(value)
                        for name, value in stride.items()
                    }
                    ic = float(stride["ic_t"] or 0.0)
                    for name in ("ic_t", "to_t", "next_ic_t"):
                        row[name] = float(stride[name] or 0.0) - ic
                    rows.append(row)
            pools[side][style] = rows
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(pools))
    tmp.replace(path)
    return pools


def day_strides(
    patient: DemoPatient,
    pool: dict[str, list[dict[str, Any]]],
    days_ago: int,
    day_start_s: float,
    rng: random.Random,
) -> Iterator[dict[str, Any]]:
    """One day of walking: bouts between 07:00 and 20:00 UTC of strides drawn from the pools.

    A fractional severity mixes the two neighbouring walking patterns stride by stride, so the
    share of slapping and dragging strides and the gait metrics drift over the months.
    """
    sev = patient.severity(days_ago)
    mobility = 1.15 - 0.3 * sev / 2.0
    n = round(patient.strides_per_day * mobility * rng.uniform(0.6, 1.3))
    if rng.random() < 0.08:  # a day mostly at home
        n = n // 5
    if rng.random() < 0.03:  # brace not worn
        return
    lo = math.floor(sev)
    frac = sev - lo
    t = day_start_s + 7 * 3600.0
    end = day_start_s + 20 * 3600.0
    left = n
    bout = 0
    while left > 0 and t < end:
        size = min(left, rng.randint(12, 90))
        t += rng.uniform(0.0, 2.0 * (end - t) * size / max(left, 1))
        if t >= end:
            break
        for i in range(size):
            k = min(2, lo + (1 if rng.random() < frac else 0))
            src = rng.choice(pool[STYLES[k]])
            row = dict(src)
            for name in ("ic_t", "to_t", "next_ic_t"):
                row[name] = t + float(src[name])
            row["bout"] = bout
            row["turn"] = 0 if 3 < i < size - 3 else int(src.get("turn") or 0)
            t += float(src["next_ic_t"])
            yield row
        bout += 1
        left -= size
        t += rng.uniform(20.0, 120.0)


def _cell(name: str, value: float | int | None) -> str:
    """CSV text: event times to the µs, metrics to 4 decimals (keeps 500-stride messages small)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.6f}" if name in ("ic_t", "to_t", "next_ic_t") else f"{value:.4f}"


def write_history_csv(patient: DemoPatient, pools: Any, first: date, days: int, path: Path) -> int:
    """The patient's history as a ``dorsi-signal analyze``-style CSV (times: s since ``first``)."""
    from dorsi.signal.metrics import STRIDE_FIELDS

    rng = random.Random(patient.seed)
    count = 0
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(STRIDE_FIELDS), extrasaction="ignore")
        writer.writeheader()
        for i in range(days):
            days_ago = days - i
            for row in day_strides(patient, pools[patient.side], days_ago, i * 86400.0, rng):
                writer.writerow({k: _cell(k, v) for k, v in row.items()})
                count += 1
    return count


def seed(state: Path, days: int, secret_key: str) -> bool:
    """Seed store and registry unless this state dir already holds today's seed; True if seeded."""
    marker = state / "seed.json"
    today = datetime.now(UTC).date()
    wanted = {"version": SEED_VERSION, "end_day": today.isoformat(), "days": days}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return False
    for name in ("store.sqlite", "registry.sqlite"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (state / (name + suffix)).unlink(missing_ok=True)
    shutil.rmtree(state / "gateways", ignore_errors=True)  # live strides of an older seed
    marker.unlink(missing_ok=True)

    from dorsi.server.importer import import_csv
    from dorsi.server.registry import Registry
    from dorsi.server.sqlite_store import SQLiteStore

    signal_version = importlib.metadata.version("dorsi-signal")
    t0 = time.monotonic()
    pools = stride_pools(state / "cache")
    log(f"   simulated and analysed the stride pools in {time.monotonic() - t0:.1f} s")
    first = today - timedelta(days=days)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    registry = Registry(state / "registry.sqlite", token_pepper=secret_key)
    store = SQLiteStore(state / "store.sqlite")
    store.bootstrap()
    try:
        registry.create_user(THERAPIST, THERAPIST_PASSWORD, "therapist")
        for p in PATIENTS:
            registry.add_patient(p.id, p.name, p.side, p.brace)  # type: ignore[arg-type]
            registry.assign(THERAPIST, p.id)
            registry.pair_device(p.device, p.id, p.side)  # type: ignore[arg-type]
            for event in p.events:
                if event.days_ago <= days:
                    registry.add_intervention(
                        p.id, event.kind, today - timedelta(days=event.days_ago), event.note
                    )
            csv_path = state / "cache" / f"history-{p.id}.csv"
            rows = write_history_csv(p, pools, first, days, csv_path)
            t1 = time.monotonic()
            result = import_csv(
                csv_path,
                store,
                patient=p.id,
                device=p.device,
                side=p.side,
                gateway="demo-history",
                algorithm=f"dorsi-signal {signal_version} (simulated history)",
                start=start,
            )
            if result.refused:
                raise RuntimeError(f"{p.id}: import refused {result.refused[:3]}")
            log(
                f"   {p.id}: {result.stored} of {rows} strides over {days} days imported "
                f"in {time.monotonic() - t1:.1f} s"
            )
    finally:
        store.close()
        registry.close()
    marker.write_text(json.dumps(wanted))
    return True


# -- processes ------------------------------------------------------------------------------------


class Children:
    """Processes this demo started; their ids are kept in ``pids.json`` so that a run killed
    without clean-up (SIGKILL, a closed terminal) is cleaned up by the next run."""

    def __init__(self, state: Path) -> None:
        self.path = state / "pids.json"
        self.procs: list[tuple[str, subprocess.Popen[bytes], list[str]]] = []

    def reap_stale(self) -> None:
        if not self.path.is_file():
            return
        for entry in json.loads(self.path.read_text()):
            pid, cmd = int(entry["pid"]), str(entry["cmd"])
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if cmdline.strip() == cmd.strip():
                log(f"   stopping a leftover process of an earlier run (pid {pid})")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.05)
        self.path.unlink(missing_ok=True)

    def start(self, name: str, argv: list[str], *, env: dict[str, str], logfile: Path) -> None:
        out = logfile.open("ab")
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only the demo, which stops them in order
        )
        out.close()
        self.procs.append((name, proc, argv))
        self._save()

    def _save(self) -> None:
        self.path.write_text(
            json.dumps([{"pid": p.pid, "cmd": " ".join(argv)} for _, p, argv in self.procs])
        )

    def alive(self) -> list[str]:
        return [name for name, p, _ in self.procs if p.poll() is None]

    def stop_all(self) -> None:
        """Stop in reverse start order: SIGINT (graceful), then SIGKILL after 15 s."""
        for name, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if name == "server" else signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    log(f"   {name} did not stop in 15 s; killing it")
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        self.path.unlink(missing_ok=True)


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.access(p, os.X_OK)), None
    )


def start_broker(kind: str, children: Children, state: Path) -> tuple[int, str, str]:
    """A broker on a free loopback port: (port, name, MQTT protocol version)."""
    port = free_port()
    mosquitto = find_mosquitto() if kind in ("auto", "mosquitto") else None
    if kind == "mosquitto" and mosquitto is None:
        raise SystemExit("demo: --broker mosquitto but Mosquitto is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="broker-", dir=state))
    if mosquitto is not None:
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 1000000\n"
            "log_type error\nlog_type warning\n"
            f"log_dest file {workdir}/mosquitto.log\n"
        )
        if os.geteuid() == 0:  # mosquitto drops privileges to its own user
            shutil.chown(workdir, user="mosquitto")
            shutil.chown(conf, user="mosquitto")
        children.start(
            "broker",
            [mosquitto, "-c", str(conf)],
            env=dict(os.environ),
            logfile=state / "broker.log",
        )
        name, protocol = "Mosquitto", "5"
    else:
        if importlib.util.find_spec("amqtt") is None:
            raise SystemExit(
                "demo: neither Mosquitto nor amqtt is installed; install one of them: "
                "`sudo apt-get install mosquitto` or `.venv/bin/pip install -e './server[demo]'`"
            )
        conf = workdir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        amqtt_bin = Path(sys.executable).with_name("amqtt")
        children.start(
            "broker",
            [str(amqtt_bin), "-c", str(conf)],
            env=dict(os.environ),
            logfile=state / "broker.log",
        )
        name, protocol = "amqtt (embedded)", "3.1.1"
    if not wait_for_port(port, 20.0):
        raise SystemExit(f"demo: the MQTT broker did not start; see {state / 'broker.log'}")
    return port, name, protocol


def start_server(
    children: Children, state: Path, http_port: int, mqtt_port: int, protocol: str, key: str
) -> None:
    env = dict(os.environ)
    env.update(
        {
            "DORSI_ENVIRONMENT": "development",
            "DORSI_SECRET_KEY": key,
            "DORSI_REGISTRY_PATH": str(state / "registry.sqlite"),
            "DORSI_HTTP_HOST": "127.0.0.1",
            "DORSI_HTTP_PORT": str(http_port),
            "DORSI_STORE__KIND": "sqlite",
            "DORSI_STORE__SQLITE_PATH": str(state / "store.sqlite"),
            "DORSI_MQTT__HOST": "127.0.0.1",
            "DORSI_MQTT__PORT": str(mqtt_port),
            "DORSI_MQTT__CLIENT_ID": "dorsi-demo-server",
            "DORSI_MQTT__PROTOCOL": protocol,
            "DORSI_MQTT__ROLLUP_INTERVAL_S": "5",
        }
    )
    argv = [sys.executable, "-m", "dorsi.server.cli", "--log-level", "WARNING", "run"]
    children.start("server", argv, env=env, logfile=state / "server.log")


def wait_healthy(url: str, timeout_s: float, children: Children) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "server" not in children.alive():
            return False
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{url}/healthz", timeout=2) as response,
        ):
            if response.status == 200:
                return True
        time.sleep(0.2)
    return False


# -- live sensors and gateways --------------------------------------------------------------------


async def run_live(state: Path, mqtt_port: int, protocol: str, stop: asyncio.Event) -> None:
    """One virtual sensor + one real Gateway per patient until ``stop`` is set."""
    from dorsi.firmware_protocol import Side
    from dorsi.firmware_protocol.bleak_backend import BumbleHub
    from dorsi.firmware_protocol.virtual.link import VirtualRadio
    from dorsi.firmware_protocol.virtual.peripheral import SensorConfig, VirtualSensor
    from dorsi.firmware_protocol.virtual.source import SimulatedSource
    from dorsi.gateway.config import parse_config
    from dorsi.gateway.runner import Gateway

    radio = VirtualRadio()
    async with contextlib.AsyncExitStack() as stack:
        gateways: list[Gateway] = []
        for p in PATIENTS:
            source = SimulatedSource(
                p.live_scenario, seconds=LIVE_SECONDS, side=p.side, seed=p.seed
            )
            sensor = VirtualSensor.on_radio(
                radio,
                source,
                SensorConfig(side=Side[p.side.upper()], rate_hz=RATE_HZ, loop=True),
                address=p.address,
            )
            await sensor.start()
            stack.push_async_callback(sensor.close)
            hub = await stack.enter_async_context(BumbleHub(radio))
            config = parse_config(
                {
                    "gateway_id": f"gw-{p.id}",
                    "patient": p.id,
                    "state_dir": str(state / "gateways" / p.id),
                    "broker": {"url": f"mqtt://127.0.0.1:{mqtt_port}"},
                    "sensors": [{"device": p.device, "side": p.side, "mounting": "auto"}],
                },
                env={},
            )
            sensors = tuple(
                dataclasses.replace(s, broker=dataclasses.replace(s.broker, protocol=protocol))
                for s in config.sensors
            )
            config = dataclasses.replace(config, sensors=sensors)
            gateways.append(
                Gateway(
                    config,
                    scanner_backend=hub.backends.scanner,
                    client_backend=hub.backends.client,
                )
            )
        tasks = [asyncio.create_task(g.run(stop)) for g in gateways]
        t0 = time.monotonic()
        next_report = t0 + 60.0
        first_seen: set[str] = set()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await stop.wait()
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done() and t.exception() is not None:
                        raise RuntimeError("a gateway stopped") from t.exception()
            snaps = [g.sessions[0].snapshot() for g in gateways]
            for p, snap in zip(PATIENTS, snaps, strict=True):
                if p.id not in first_seen and snap["pipeline"]["strides"]:
                    first_seen.add(p.id)
                    log(f"   first live stride of {p.id} after {time.monotonic() - t0:.0f} s")
            if time.monotonic() >= next_report:
                next_report += 60.0
                parts = [
                    f"{p.id} {snap['pipeline']['strides']} (outbox {snap['outbox_backlog']})"
                    for p, snap in zip(PATIENTS, snaps, strict=True)
                ]
                log("   live strides so far: " + ", ".join(parts))
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30)


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh", description="Run the whole dorsi chain locally (Ctrl-C stops)."
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=ROOT / "out" / "demo",
        help="where the store, registry, logs and caches live (default out/demo)",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=8000,
        help="dashboard/API port (default 8000; a free one if taken; 0: any)",
    )
    parser.add_argument(
        "--broker",
        choices=["auto", "mosquitto", "amqtt"],
        default="auto",
        help="MQTT broker: Mosquitto when installed, else amqtt (default auto)",
    )
    parser.add_argument(
        "--days", type=int, default=180, help="days of seeded history per patient (default 180)"
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="no virtual sensors and gateways (server and history only)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.days <= 730:
        parser.error("--days must be within 1..730")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.monotonic()
    state: Path = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    key_file = state / "secret_key"
    if not key_file.is_file():
        key_file.write_text(secrets.token_urlsafe(32))
    key = key_file.read_text().strip()

    logging.basicConfig(
        filename=state / "live.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log("== dorsi demo: state in " + str(state))
    children = Children(state)
    children.reap_stale()
    for stale in state.glob("broker-*"):
        shutil.rmtree(stale, ignore_errors=True)

    stop = asyncio.Event()
    interrupted = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored (`cmd &`)
    try:
        port, broker_name, protocol = start_broker(args.broker, children, state)
        log(f"== MQTT broker: {broker_name} on 127.0.0.1:{port} (MQTT {protocol})")
        log("== seeding three demo patients (first run only) ...")
        if not seed(state, args.days, key):
            log("   using the seeded store from an earlier run")
        http_port = args.http_port
        if http_port == 0 or not port_is_free(http_port):
            http_port = free_port()
        start_server(children, state, http_port, port, protocol, key)
        url = f"http://127.0.0.1:{http_port}"
        if not wait_healthy(url, 60.0, children):
            log(f"demo: the server did not answer; see {state / 'server.log'}")
            return 1
        log(f"== server up in {time.monotonic() - t_start:.1f} s")
        log("")
        log(f"   dashboard: {url}/dashboard/")
        log(f"   login:     {THERAPIST} / {THERAPIST_PASSWORD}")
        log(f"   API docs:  {url}/docs")
        for p in PATIENTS:
            log(f"   patient:   {p.id}  {p.name}, {p.side}, live sensor {p.device}")
        log("")
        if args.no_live:
            log("== running without live sensors; Ctrl-C stops")
            while not interrupted and "server" in children.alive():
                time.sleep(0.5)
        else:
            log(
                "== live: 3 virtual brace sensors → 3 gateways (bleak on bumble) → broker → "
                "server; Ctrl-C stops"
            )

            async def live() -> None:
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(signal.SIGINT, stop.set)
                loop.add_signal_handler(signal.SIGTERM, stop.set)
                await run_live(state, port, protocol, stop)

            asyncio.run(live())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("== stopping ...")
        children.stop_all()
        log("== stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
