"""No loss, no duplicates, end to end, under faults (issue 8, first part).

Ten virtual braces walk a looping foot-drop scenario in time-lapse (10×, 52 Hz) over the real
bleak code on bumble; ten real gateways (one patient each, own state_dir) analyse them and
publish through a real Mosquitto to TWO ``dorsi-server ingest`` processes (partitioned: each keeps
the patients it owns) that write to a real influxd. The sensors and gateways run in two fleet
processes (``gateway_fleet.py``, five each: one process cannot analyse ten at 10×). At seeded
random moments: the broker is restarted 3 times (graceful; its persistence keeps the queued
messages), one ingest worker is SIGKILLed twice and restarted, influxd is stopped for 30 s real
(≈ 300 s of device time) and restarted, every BLE link drops 5 times, and one gateway is
restarted (graceful stop, a new Gateway on the same state_dir).

After a drain, the store must hold exactly the strides the gateways produced (every stride the
pipelines put into their outboxes), each once, by identity (device, side, ic_t); and the daily
rollups must agree with the raw strides (count, slap % and drag % per patient, side and day).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dorsi.server.influx_store import InfluxConfig, InfluxStore
from dorsi.server.store import StrideRecord, to_us
from tests.conftest import MosquittoBroker
from tests.server.conftest import InfluxServer
from tests.server.ingest_process import start_ingest

# Long (4–6 min): run by `scripts/test.sh -m chaos`, which CI runs after the default suite.
pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.chaos]

SEED = 20261128
FLEETS = 2
PER_FLEET = 5
SENSORS = FLEETS * PER_FLEET
SPEED = 10.0
"""Time-lapse: device time runs this much faster than the host."""
RATE_HZ = 52
STREAM_S = 150.0
"""Real seconds the gateways run at least (≈ 1500 s of device time per sensor); all faults
happen within them. They run on until ≥ MIN_STRIDES strides are produced (a loaded machine
analyses slower) but at most MAX_STREAM_S."""
MAX_STREAM_S = 330.0
MIN_STRIDES = 10_000
INFLUX_DOWN_S = 30.0
LINK_DROPS = 5
BROKER_RESTARTS = 3
WORKER_KILLS = 2
DRAIN_S = 90.0
FLEET = Path(__file__).with_name("gateway_fleet.py")
FAR_PAST = datetime(2001, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime.now(UTC) + timedelta(days=2)

Identity = tuple[str, str, int]
"""(device, side, ic_t in µs): a stride's identity in the MQTT contract."""


@dataclass
class Faults:
    broker_restarts: int = 0
    worker_kills: int = 0
    influx_outages: int = 0
    link_drops: int = 0
    gateway_restarts: int = 0
    log: list[str] = field(default_factory=list)


class Worker:
    """One ``dorsi-server ingest`` process with a fixed client id (restartable)."""

    def __init__(
        self,
        client_id: str,
        index: int,
        mosquitto: MosquittoBroker,
        config: InfluxConfig,
        log: Path,
    ) -> None:
        self.client_id = client_id
        self.index = index
        self.mosquitto = mosquitto
        self.config = config
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = start_ingest(
            self.mosquitto.port,
            self.config,
            self.client_id,
            self.log,
            DORSI_STORE__RETRY_FOR_S="2",
            DORSI_MQTT__WORKER_INDEX=str(self.index),
            DORSI_MQTT__WORKER_COUNT="2",
            DORSI_MQTT__RECEIVE_MAXIMUM="200",
            DORSI_MQTT__ROLLUP_INTERVAL_S="1",
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def influx_config(influxd: InfluxServer, influx_db: str) -> InfluxConfig:
    return InfluxConfig(
        url=influxd.url,
        database=influx_db,
        username=influxd.username,
        password=influxd.password,
        retry_for_s=5.0,
    )


@pytest.fixture
def store(influx_config: InfluxConfig) -> Iterator[InfluxStore]:
    made = InfluxStore(influx_config)
    made.bootstrap()
    yield made
    made.close()


def stored_strides(store: InfluxStore, patient: str) -> list[StrideRecord]:
    out: list[StrideRecord] = []
    cursor: str | None = None
    while True:
        page = store.query_strides(patient, FAR_PAST, FAR_FUTURE, limit=10_000, cursor=cursor)
        out.extend(page.records)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def _schedule(rng: random.Random) -> list[tuple[float, str]]:
    """(real seconds after start, server-side fault) — seeded, spread over the stream."""
    events = [(rng.uniform(12, STREAM_S - 25), "broker_restart") for _ in range(BROKER_RESTARTS)]
    kills = sorted(rng.uniform(10, STREAM_S - 30) for _ in range(WORKER_KILLS))
    while kills[1] - kills[0] < 12:  # the killed worker is back before it is killed again
        kills = sorted(rng.uniform(10, STREAM_S - 30) for _ in range(WORKER_KILLS))
    events += [(t, "worker_kill") for t in kills]
    events.append((rng.uniform(20, STREAM_S - INFLUX_DOWN_S - 20), "influx_outage"))
    return sorted(events)


def _start_fleets(
    mosquitto: MosquittoBroker, tmp_path: Path, restart: int
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    fleets = []
    for f in range(FLEETS):
        out = tmp_path / f"fleet-{f}.json"
        with (tmp_path / f"fleet-{f}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, str(FLEET), "--port", str(mosquitto.port),
                 "--root", str(tmp_path), "--out", str(out), "--first", str(f * PER_FLEET),
                 "--count", str(PER_FLEET), "--seed", str(SEED + 100 * f), "--speed", str(SPEED),
                 "--rate", str(RATE_HZ), "--stream-s", str(STREAM_S),
                 "--target", str(MIN_STRIDES // FLEETS + 100),
                 "--max-stream-s", str(MAX_STREAM_S),
                 "--link-drops", str(LINK_DROPS),
                 "--restart", str(restart if restart // PER_FLEET == f else -1)],
                stdout=log,
                stderr=log,
                cwd=Path(__file__).resolve().parents[2],
            )  # fmt: skip
        fleets.append((proc, out))
    return fleets


@pytest.mark.timeout(600)
def test_no_loss_no_duplicates_under_faults(
    mosquitto: MosquittoBroker,
    influxd: InfluxServer,
    influx_config: InfluxConfig,
    store: InfluxStore,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    faults = Faults()
    workers = [
        Worker(f"ingest-nl-{name}", i, mosquitto, influx_config, tmp_path / f"worker-{name}.log")
        for i, name in enumerate(("a", "b"))
    ]
    victim = workers[rng.randrange(len(workers))]
    for worker in workers:
        worker.start()
    fleets = _start_fleets(mosquitto, tmp_path, restart=rng.randrange(SENSORS))
    influx_back_at: float | None = None
    worker_back_at: float | None = None
    try:
        t0 = time.monotonic()
        for at, fault in _schedule(rng):
            while time.monotonic() - t0 < at:
                now = time.monotonic() - t0
                if influx_back_at is not None and now >= influx_back_at:
                    influxd.start()
                    influx_back_at = None
                    faults.log.append(f"{now:6.1f} s influxd back")
                if worker_back_at is not None and now >= worker_back_at:
                    victim.start()
                    worker_back_at = None
                    faults.log.append(f"{now:6.1f} s worker {victim.client_id} back")
                time.sleep(0.05)
            faults.log.append(f"{time.monotonic() - t0:6.1f} s {fault}")
            if fault == "broker_restart":
                mosquitto.restart()
                faults.broker_restarts += 1
            elif fault == "worker_kill":
                victim.kill()
                worker_back_at = time.monotonic() - t0 + 3.0
                faults.worker_kills += 1
            elif fault == "influx_outage":
                influxd.stop()
                influx_back_at = time.monotonic() - t0 + INFLUX_DOWN_S
                faults.influx_outages += 1
        while influx_back_at is not None or worker_back_at is not None:
            now = time.monotonic() - t0
            if influx_back_at is not None and now >= influx_back_at:
                influxd.start()
                influx_back_at = None
                faults.log.append(f"{now:6.1f} s influxd back")
            if worker_back_at is not None and now >= worker_back_at:
                victim.start()
                worker_back_at = None
                faults.log.append(f"{now:6.1f} s worker {victim.client_id} back")
            time.sleep(0.05)
        reports = []
        for proc, out in fleets:
            assert proc.wait(MAX_STREAM_S + 90) == 0, (tmp_path / "fleet-0.log").read_text()[-3000:]
            reports.append(json.loads(out.read_text()))
        streamed = time.monotonic() - started
        produced = [tuple(p) for r in reports for p in r["produced"]]
        identities = {(device, side, to_us(ic_t)) for _, device, side, ic_t in produced}
        patients = sorted({p[0] for p in produced})
        for r in reports:
            faults.link_drops += r["link_drops"]
            faults.gateway_restarts += r["gateway_restarts"]
            faults.log += r["log"]
        final_backlogs = [b for r in reports for b in r["final_backlogs"]]
        deadline = time.monotonic() + DRAIN_S
        while True:
            records = [r for p in patients for r in stored_strides(store, p)]
            if len(records) >= len(identities) or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        time.sleep(2.0)  # anything late (a duplicate) would show now
        records = [r for p in patients for r in stored_strides(store, p)]
        drained = time.monotonic() - started
        _check(records, identities, len(produced), faults, final_backlogs, streamed, drained)
        _check_rollups(store, records, patients)
    finally:
        for proc, _ in fleets:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        if influxd.process is None:
            influxd.start()
        for worker in workers:
            worker.stop()
    for name in ("a", "b"):
        log = (tmp_path / f"worker-{name}.log").read_text()
        assert "Traceback" not in log, log[-3000:]


def _check(
    records: list[StrideRecord],
    identities: set[Identity],
    puts: int,
    faults: Faults,
    final_backlogs: list[int],
    streamed: float,
    drained: float,
) -> None:
    """Every produced stride stored once, nothing else; the faults all happened."""

    stored_ids = Counter((r.device, r.side, r.ic_us) for r in records)
    missing = identities - set(stored_ids)
    extra = set(stored_ids) - identities
    twice = {k: n for k, n in stored_ids.items() if n > 1}
    print(
        f"\nno-loss: {SENSORS} sensors/gateways at {SPEED:g}x, 2 ingest workers; "
        f"{len(identities)} strides produced ({puts} noted at outbox puts), "
        f"{len(records)} stored; missing {len(missing)}, extra {len(extra)}, "
        f"duplicated {len(twice)}\nfaults: {faults.broker_restarts} broker restarts, "
        f"{faults.worker_kills} worker SIGKILLs, {faults.influx_outages} influxd outage of "
        f"{INFLUX_DOWN_S:g} s, {faults.link_drops} BLE link drops, {faults.gateway_restarts} "
        f"gateway restart; streaming {streamed:.0f} s, total {drained:.0f} s"
    )
    print("\n".join(sorted(faults.log)))
    assert faults.broker_restarts == BROKER_RESTARTS
    assert faults.worker_kills == WORKER_KILLS
    assert faults.influx_outages == 1
    assert faults.gateway_restarts == 1
    assert faults.link_drops >= SENSORS * LINK_DROPS - 2, "links were up to be dropped"
    assert len(identities) >= MIN_STRIDES, len(identities)
    assert not missing, sorted(missing)[:10]
    assert not extra, sorted(extra)[:10]
    assert not twice, list(twice.items())[:10]
    assert len(records) == len(identities)
    assert len(final_backlogs) == SENSORS + 1, final_backlogs
    assert all(b == 0 for b in final_backlogs[-SENSORS:]), final_backlogs


def _check_rollups(store: InfluxStore, records: list[StrideRecord], patients: list[str]) -> None:
    """Daily rollups agree with the raw strides: count, slap % and drag % per patient/side/day."""
    by_key: dict[tuple[str, str, Any], list[StrideRecord]] = defaultdict(list)
    for r in records:
        day = datetime.fromtimestamp(r.ic_us / 1e6, UTC).date()
        by_key[(r.patient, r.side, day)].append(r)
    days = sorted({k[2] for k in by_key})
    expected = {
        key: (
            len(rs),
            100.0 * sum(r.stride.foot_slap for r in rs) / len(rs),
            100.0 * sum(r.stride.toe_drag for r in rs) / len(rs),
        )
        for key, rs in by_key.items()
    }
    got: dict[tuple[str, str, Any], tuple[int, float | None, float | None]] = {}
    deadline = time.monotonic() + 20  # last recompute: at most rollup_interval_s after a write
    while time.monotonic() < deadline:
        got = {
            (r.patient, r.side, r.day): (r.strides, r.slap_pct, r.drag_pct)
            for p in patients
            for r in store.query_rollups(p, days[0], days[-1])
        }
        if set(got) == set(expected) and all(got[k][0] == expected[k][0] for k in expected):
            break
        time.sleep(0.5)
    assert set(got) == set(expected)
    for key, (count, slap, drag) in expected.items():
        assert got[key][0] == count, (key, got[key], expected[key])
        assert got[key][1] == pytest.approx(slap, abs=1e-9), key
        assert got[key][2] == pytest.approx(drag, abs=1e-9), key
    assert sum(v[1] for v in expected.values()) > 0, "a mild foot drop slaps sometimes"
