"""Child processes of ``bench/load_harness.py``: a fleet of simulated gateways, or a timed worker.

``gateways``: simulated home gateways, one patient each with a brace sensor on both feet. Every
foot is its own MQTT 5 client (client id ``dorsi-<device>``, persistent session, last will
``offline``, QoS 1) with payloads from ``dorsi.gateway.payloads``. A stride is built at the
moment it completes: ``next_ic_t`` = the wall clock now, ``ic_t`` = now − the foot's stride
time. Every foot also sends the product's periodic messages: retained status every 60 s,
activity every minute, battery every 600 s (all periods divided by the rate multiplier).

* ``--uplink direct``: a plain paho client per foot, driven by the ``FeetLoop`` thread that owns
  the foot (no paho thread), publishing each stride at once: a light load generator.
* ``--uplink outbox``: per foot, as the product's ``SensorSession`` does, a durable ``Outbox``
  (SQLite) drained by an ``OutboxPublisher`` (consecutive strides merged into one message when
  a backlog forms; retained status on connect).

The process connects every foot, prints ``ready``, waits for ``go <t0_utc_s> <seconds>`` on
stdin, emits from t0 to t0 + seconds, waits (bounded) for the broker to acknowledge everything
and writes a JSON report (``--out``); ``--status`` gets a progress snapshot every second.

``worker``: one ``IngestWorker`` with the product's default options (``--subscription``,
``--index``, ``--count`` as ``dorsi-server ingest`` takes them), on an ``InfluxStore`` subclass
that notes the wall clock when each ``write_strides`` call returned (influxd answered the
``/write`` with 204: the points are in its WAL and visible to queries) and counts the strides
the rollups read, and with a ``RollupMaintainer`` subclass that times each refresh
(``--rollups off``: never marked). Runs until SIGTERM, then writes, per stride written,
its identity and (that moment − ``next_ic_t``) to ``--out``.

    python bench/load_fleet.py gateways --port P --root DIR --first 0 --count 50 --rate 1 ...
    python bench/load_fleet.py worker --port P --influx-url URL --database DB --client-id ID ...
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import logging
import math
import random
import resource
import selectors
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from dorsi.gateway.mqtt_link import BrokerConfig, OutboxPublisher, Will
from dorsi.gateway.outbox import Outbox, OutboxMessage
from dorsi.gateway.payloads import (
    Side,
    Source,
    activity_message,
    battery_message,
    merge_activity_messages,
    merge_stride_messages,
    status_message,
    stride_fields,
    strides_message,
)
from dorsi.gateway.pipeline import ACTIVITY_PRIORITY, STRIDE_PRIORITY
from dorsi.gateway.topics import DeviceTopics
from dorsi.server.influx_store import InfluxConfig, InfluxStore
from dorsi.server.ingest import IngestOptions, IngestWorker, MqttConfig
from dorsi.server.rollups import RollupMaintainer
from dorsi.server.schema import Stride
from dorsi.server.store import ActivityRecord, Store, StrideMetrics, StrideRecord

STRIDE_TIME_S = (1.0, 1.25)
"""Range of a foot's stride time while walking, s: ≈ 0.9 strides/s per foot, ≈ 1.8 per patient."""
STATUS_PERIOD_S = 60.0
"""The gateway's ``status_interval_s`` default."""
BATTERY_PERIOD_S = 600.0
"""The gateway's ``battery_interval_s`` default."""
ACTIVITY_PERIOD_S = 60.0
"""One activity summary per foot per minute."""
BATTERY_PRIORITY = 0
"""As the gateway's ``_publish_battery``."""
ALGORITHM = "dorsi-signal load-harness"
CONNECT_PACE_S = 0.02
"""Pause between two connects of one loop, s: a fleet does not connect all in the same moment."""
SWEEP_S = 0.05
"""How often a ``FeetLoop`` flushes pending writes and checks connections, s."""
SESSION_EXPIRY_S = 3600


# -- gateways ------------------------------------------------------------------------------------


class Uplink(Protocol):
    """How one foot's messages reach the broker."""

    @property
    def connected(self) -> bool: ...

    @property
    def backlog(self) -> int:
        """Messages handed over and not yet acknowledged by the broker."""
        ...

    @property
    def stride_messages(self) -> int:
        """MQTT messages carrying strides sent so far (batches count once)."""
        ...

    def start(self) -> None: ...

    def socket(self) -> Any:
        """A socket for the owning loop to watch, or None (the uplink has its own threads)."""
        ...

    def handle_read(self) -> None: ...

    def service(self, now: float) -> None:
        """Called by the owning loop every iteration (≤ 50 ms apart)."""
        ...

    def send(self, topic: str, payload: bytes, *, kind: str, priority: int) -> None: ...

    def publish_status(self, topic: str, payload: bytes) -> None:
        """Retained status, outside any outbox (the product's ``publish_now``)."""
        ...

    def stop(self, flush_timeout_s: float) -> None: ...


class OutboxUplink:
    """The product path: durable ``Outbox`` + ``OutboxPublisher`` (as ``SensorSession``)."""

    def __init__(
        self, path: Path, config: BrokerConfig, will: Will, on_connect: Callable[[], None]
    ) -> None:
        self.outbox = Outbox(path)
        self._stride_messages = 0
        self._puts = 0
        self.publisher = OutboxPublisher(
            self.outbox,
            config,
            will=will,
            batchers={"stride": self._merge_strides, "activity": self._merge_activity},
            on_connect=lambda _publisher: on_connect(),
        )

    def _merge_strides(self, messages: list[OutboxMessage]) -> bytes:
        self._stride_messages += 1
        return merge_stride_messages([m.payload for m in messages])

    @staticmethod
    def _merge_activity(messages: list[OutboxMessage]) -> bytes:
        return merge_activity_messages([m.payload for m in messages])

    @property
    def connected(self) -> bool:
        return self.publisher.connected

    @property
    def backlog(self) -> int:
        return self._puts - self.publisher.stats.acknowledged

    @property
    def stride_messages(self) -> int:
        return self._stride_messages

    def start(self) -> None:
        self.publisher.start()

    def socket(self) -> Any:
        return None

    def handle_read(self) -> None:
        pass

    def service(self, now: float) -> None:
        pass

    def send(self, topic: str, payload: bytes, *, kind: str, priority: int) -> None:
        self.outbox.put(topic, payload, kind=kind, priority=priority)
        self._puts += 1
        self.publisher.wake()

    def publish_status(self, topic: str, payload: bytes) -> None:
        if self.publisher.connected:
            self.publisher.publish_now(topic, payload, qos=1, retain=True)

    def stop(self, flush_timeout_s: float) -> None:
        self.publisher.stop(flush_timeout_s=flush_timeout_s)
        self.outbox.close()


class DirectUplink:
    """A lighter generator: one paho client, QoS 1 straight to the broker, no outbox.

    No paho thread: the ``FeetLoop`` that owns the foot reads its socket (``handle_read``) and
    calls ``service`` (pending writes, keepalive, reconnect), and ``publish`` writes at once.
    """

    def __init__(self, config: BrokerConfig, will: Will, on_connect: Callable[[], None]) -> None:
        self.config = config
        self._on_connect_hook = on_connect
        self._sent = 0
        self._acked = 0
        self._stride_messages = 0
        self._connected = False
        self._next_misc = 0.0
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(50)
        client.max_queued_messages_set(0)
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        self.client = client

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            self._connected = True
            self._on_connect_hook()

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected = False

    def _handle_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._acked += 1

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def backlog(self) -> int:
        return self._sent - self._acked

    @property
    def stride_messages(self) -> int:
        return self._stride_messages

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        self.client.connect(
            self.config.host,
            self.config.port,
            keepalive=self.config.keepalive_s,
            clean_start=False,
            properties=props,
        )

    def socket(self) -> Any:
        """The socket to watch for reading (None while disconnected)."""
        return self.client.socket()

    def handle_read(self) -> None:
        self.client.loop_read()

    def service(self, now: float) -> None:
        """Flush pending writes; once a second keepalive and, if disconnected, reconnect."""
        if self.client.want_write():
            self.client.loop_write()
        if now >= self._next_misc:
            self._next_misc = now + 1.0
            if self.client.socket() is None:
                with contextlib.suppress(OSError):
                    self.client.reconnect()
            else:
                self.client.loop_misc()

    def _publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        self._sent += 1
        self.client.publish(topic, payload, qos=1, retain=retain)

    def send(self, topic: str, payload: bytes, *, kind: str, priority: int) -> None:
        if kind == "stride":
            self._stride_messages += 1
        self._publish(topic, payload, retain=False)

    def publish_status(self, topic: str, payload: bytes) -> None:
        if self._connected:
            self._publish(topic, payload, retain=True)

    def stop(self, flush_timeout_s: float) -> None:
        self.client.disconnect()
        self.client.loop_write()


@dataclass
class Foot:
    """One brace sensor of one simulated patient and what it has sent."""

    source: Source
    topics: DeviceTopics
    stride_time_s: float
    rng: random.Random
    uplink: Uplink | None = None
    battery_pct: int = 96
    bout: int = 0
    minute_strides: int = 0
    last_stride_t: float | None = None
    last_ic_t: str = ""

    def status(self) -> bytes:
        backlog = self.uplink.backlog if self.uplink is not None else 0
        return status_message(
            self.source,
            state="online",
            t=time.time(),
            link="connected",
            battery_pct=self.battery_pct,
            firmware="1.2.0",
            last_stride_t=self.last_stride_t,
            outbox_backlog=max(backlog, 0),
        )


def stride_metrics(rng: random.Random, stride_time_s: float, bout: int) -> dict[str, float | None]:
    """Plausible metrics of one foot-drop stride (units as their names say)."""
    stance_s = stride_time_s * rng.uniform(0.60, 0.66)
    slap = rng.random() < 0.3
    drag = rng.random() < 0.1
    trajectory = rng.random() > 0.03
    return {
        "stride_time_s": stride_time_s,
        "stance_time_s": stance_s,
        "swing_time_s": stride_time_s - stance_s,
        "cadence_spm": 120.0 / stride_time_s,
        "stride_length_m": rng.uniform(0.6, 1.4) if trajectory else None,
        "gait_speed_mps": rng.uniform(0.5, 1.3) if trajectory else None,
        "foot_strike_angle_deg": rng.uniform(-8.0, 20.0) if trajectory else None,
        "toe_off_angle_deg": rng.uniform(-70.0, -40.0) if trajectory else None,
        "midswing_pitch_deg": rng.uniform(-15.0, 5.0) if trajectory else None,
        "peak_swing_pitch_deg": rng.uniform(0.0, 25.0) if trajectory else None,
        "min_toe_clearance_cm": rng.uniform(0.0, 3.0) if trajectory else None,
        "foot_slap": float(slap),
        "slap_score": (rng.uniform(1.0, 3.0) if slap else rng.uniform(0.0, 0.9))
        if trajectory
        else None,
        "toe_drag": float(drag),
        "drag_score": (rng.uniform(1.0, 3.0) if drag else rng.uniform(0.0, 0.9))
        if trajectory
        else None,
        "turn": float(rng.random() < 0.05),
        "bout": float(bout),
        "quality": rng.uniform(0.5, 1.0),
    }


@dataclass
class Emitted:
    """What one emitting thread produced."""

    ids: list[str] = field(default_factory=list)
    lateness_s: list[float] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)
    first_t: float = math.inf
    last_t: float = -math.inf


def emit(foot: Foot, what: str, out: Emitted) -> None:
    """Build one message of kind ``what`` with the product's builders and hand it to the uplink."""
    uplink = foot.uplink
    assert uplink is not None
    now = time.time()
    if what == "stride":
        st = foot.stride_time_s
        metrics = stride_metrics(foot.rng, st, foot.bout)
        stance_s = metrics["stance_time_s"]
        assert stance_s is not None
        fields = stride_fields(metrics, ic_t=now - st, to_t=now - st + stance_s, next_ic_t=now)
        if fields["ic_t"] == foot.last_ic_t:  # the wall clock stepped back: keep identities unique
            return
        foot.last_ic_t = fields["ic_t"]
        uplink.send(
            foot.topics.strides,
            strides_message(foot.source, [fields]),
            kind="stride",
            priority=STRIDE_PRIORITY,
        )
        out.ids.append(f"{foot.source.device}|{foot.source.side}|{fields['ic_t']}")
        foot.minute_strides += 1
        foot.last_stride_t = now - st
        out.first_t = min(out.first_t, now)
        out.last_t = now
    elif what == "activity":
        walking_s = min(60.0, foot.minute_strides * foot.stride_time_s)
        minute = {
            "t": math.floor(now / 60.0) * 60.0,
            "state": "walking",
            "worn_s": 60.0,
            "walking_s": walking_s,
            "strides": foot.minute_strides,
        }
        foot.minute_strides = 0
        uplink.send(
            foot.topics.activity,
            activity_message(foot.source, [minute]),
            kind="activity",
            priority=ACTIVITY_PRIORITY,
        )
    elif what == "battery":
        foot.battery_pct = max(5, foot.battery_pct - 1)
        uplink.send(
            foot.topics.battery,
            battery_message(foot.source, t=now, battery_pct=foot.battery_pct),
            kind="battery",
            priority=BATTERY_PRIORITY,
        )
    else:
        uplink.publish_status(foot.topics.status, foot.status())
    out.messages[what] = out.messages.get(what, 0) + 1


class FeetLoop(threading.Thread):
    """One thread owning some feet: their network events (direct uplink) and their schedule.

    Connects its feet at start; once :meth:`go` is called, emits every foot's messages on
    schedule from ``t0`` until ``t_end`` (wall clock, s); keeps serving the network until
    :meth:`finish`, then stops its uplinks.
    """

    def __init__(self, feet: Sequence[Foot], rate: float) -> None:
        super().__init__(daemon=True)
        self.feet = list(feet)
        self.rate = rate
        self.out = Emitted()
        self.periods = {
            "activity": ACTIVITY_PERIOD_S / rate,
            "battery": BATTERY_PERIOD_S / rate,
            "status": STATUS_PERIOD_S / rate,
        }
        self.emitting_done = threading.Event()
        self._go = threading.Event()
        self._finish = threading.Event()
        self._t0 = 0.0
        self._t_end = 0.0
        self.error: BaseException | None = None

    def go(self, t0: float, t_end: float) -> None:
        self._t0, self._t_end = t0, t_end
        self._go.set()

    def finish(self) -> None:
        self._finish.set()

    def _schedule(self) -> list[tuple[float, int, str]]:
        heap: list[tuple[float, int, str]] = []
        for i, foot in enumerate(self.feet):
            heap.append(
                (self._t0 + foot.rng.uniform(0.0, foot.stride_time_s / self.rate), i, "stride")
            )
            for what, period in self.periods.items():
                heap.append((self._t0 + foot.rng.uniform(0.0, period), i, what))
        heapq.heapify(heap)
        return heap

    def _sweep(
        self,
        uplinks: list[Uplink],
        selector: selectors.BaseSelector,
        watched: dict[int, Foot],
        now: float,
    ) -> None:
        for uplink in uplinks:
            uplink.service(now)
        for fileno, foot in list(watched.items()):  # closed sockets
            assert foot.uplink is not None
            sock = foot.uplink.socket()
            if sock is None or sock.fileno() != fileno:
                del watched[fileno]
                with contextlib.suppress(KeyError, ValueError):
                    selector.unregister(fileno)
        for foot in self.feet:  # (re)connected sockets
            assert foot.uplink is not None
            sock = foot.uplink.socket()
            if sock is not None and sock.fileno() not in watched:
                selector.register(sock, selectors.EVENT_READ, foot)
                watched[sock.fileno()] = foot

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            self.emitting_done.set()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        watched: dict[int, Foot] = {}
        uplinks = [f.uplink for f in self.feet if f.uplink is not None]
        for uplink in uplinks:
            uplink.start()
            time.sleep(CONNECT_PACE_S)
        heap: list[tuple[float, int, str]] | None = None
        next_sweep = 0.0
        while not self._finish.is_set():
            now = time.time()
            if now >= next_sweep:  # every 50 ms: pending writes, keepalive, (re)registration
                next_sweep = now + SWEEP_S
                self._sweep(uplinks, selector, watched, now)
            if heap is None and self._go.is_set():
                heap = self._schedule()
            timeout = max(0.0, next_sweep - now)
            if heap:
                timeout = min(timeout, max(0.0, heap[0][0] - now))
            if watched:
                for key, _ in selector.select(timeout):
                    foot = key.data
                    assert foot.uplink is not None
                    foot.uplink.handle_read()
            else:
                time.sleep(timeout)
            now = time.time()
            while heap and heap[0][0] <= now:
                due, i, what = heapq.heappop(heap)
                if due >= self._t_end:
                    heap = []
                    break
                if what == "stride":
                    self.out.lateness_s.append(now - due)
                emit(self.feet[i], what, self.out)
                period = (
                    self.feet[i].stride_time_s / self.rate
                    if what == "stride"
                    else self.periods[what]
                )
                heapq.heappush(heap, (due + period, i, what))
            if heap is not None and (not heap or heap[0][0] >= self._t_end):
                self.emitting_done.set()
        for uplink in uplinks:
            uplink.stop(flush_timeout_s=0.0)
        selector.close()


def fleet_feet(first: int, count: int, seed: int) -> list[Foot]:
    """The feet of gateways ``first`` … ``first + count − 1`` (patient ``p-load-<n>``)."""
    feet: list[Foot] = []
    sides: tuple[Side, Side] = ("left", "right")
    for n in range(first, first + count):
        patient = f"p-load-{n:05d}"
        gateway = f"gw-load-{n:05d}"
        rng = random.Random(seed * 100_003 + n)
        stride_time_s = round(rng.uniform(*STRIDE_TIME_S), 3)  # both feet walk the same cadence
        for side in sides:
            device = f"dorsi-{n:05d}{side[0]}"
            feet.append(
                Foot(
                    source=Source(patient, device, side, gateway, ALGORITHM),
                    topics=DeviceTopics(patient, device),
                    stride_time_s=stride_time_s,
                    rng=random.Random(rng.random()),
                    battery_pct=rng.randrange(40, 100),
                )
            )
    return feet


def earlier_strides(foot: Foot, n: int, start_s: float, end_s: float) -> Iterator[StrideRecord]:
    """``n`` valid strides of ``foot`` evenly spread over [start_s, end_s) (UTC s): the part
    of the day walked before a run, for the rollups to re-read."""
    step_s = (end_s - start_s) / max(n, 1)
    for k in range(n):
        ic = start_s + k * step_s
        st = foot.stride_time_s
        metrics = stride_metrics(foot.rng, st, k // 200)
        stance_s = metrics["stance_time_s"]
        assert stance_s is not None
        fields = stride_fields(metrics, ic_t=ic, to_t=ic + stance_s, next_ic_t=ic + st)
        src = foot.source
        yield StrideRecord(
            src.patient, src.device, src.side, src.gateway, src.algorithm, Stride(**fields)
        )


def make_feet(args: argparse.Namespace) -> list[Foot]:
    feet = fleet_feet(args.first, args.count, args.seed)
    for foot in feet:
        config = BrokerConfig(
            url=f"mqtt://127.0.0.1:{args.port}",
            client_id=f"dorsi-{foot.source.device}",
            session_expiry_s=SESSION_EXPIRY_S,
        )
        will = Will(foot.topics.status, status_message(foot.source, state="offline"))

        def on_connect(foot: Foot = foot) -> None:
            if foot.uplink is not None:
                foot.uplink.publish_status(foot.topics.status, foot.status())

        if args.uplink == "outbox":
            path = Path(args.root) / foot.source.gateway / f"outbox-{foot.source.device}.sqlite"
            foot.uplink = OutboxUplink(path, config, will, on_connect)
        else:
            foot.uplink = DirectUplink(config, will, on_connect)
    return feet


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def percentiles(values: Sequence[float]) -> list[float]:
    """p50, p99 and max (NaN for none)."""
    if not values:
        return [math.nan] * 3
    ordered = sorted(values)
    pick = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.99)]
    return [*pick, ordered[-1]]


def run_gateways(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # sockets, SQLite files
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    feet = make_feet(args)
    uplinks = [f.uplink for f in feet if f.uplink is not None]
    loops = [FeetLoop(feet[k :: args.threads], args.rate) for k in range(args.threads)]
    status_path = Path(args.status)
    state: dict[str, Any] = {"phase": "connecting"}
    stop_status = threading.Event()

    def report_status() -> None:
        while not stop_status.wait(1.0):
            state["connected"] = sum(u.connected for u in uplinks)
            state["emitted"] = sum(len(loop.out.ids) for loop in loops)
            state["backlog"] = sum(u.backlog for u in uplinks)
            write_json(status_path, state)

    reporter = threading.Thread(target=report_status, daemon=True)
    reporter.start()
    for loop in loops:
        loop.start()
    deadline = time.monotonic() + 120.0
    while sum(u.connected for u in uplinks) < len(uplinks):
        if time.monotonic() > deadline or any(loop.error for loop in loops):
            errors = [repr(loop.error) for loop in loops if loop.error]
            raise SystemExit(f"only {sum(u.connected for u in uplinks)} feet connected {errors}")
        time.sleep(0.1)
    state["phase"] = "ready"
    print("ready", flush=True)
    words = sys.stdin.readline().split()
    if len(words) != 3 or words[0] != "go":
        raise SystemExit(f"expected 'go <t0> <seconds>' on stdin, got {words!r}")
    t0, seconds = float(words[1]), float(words[2])
    state["phase"] = "emitting"
    for loop in loops:
        loop.go(t0, t0 + seconds)
    for loop in loops:
        loop.emitting_done.wait()
    state["phase"] = "draining"
    drain_began = time.monotonic()
    while sum(u.backlog for u in uplinks) > 0 and time.monotonic() - drain_began < args.drain_s:
        time.sleep(0.05)
    drained_s = time.monotonic() - drain_began
    backlog = sum(u.backlog for u in uplinks)
    stride_messages = sum(u.stride_messages for u in uplinks)
    for loop in loops:
        loop.finish()
    for loop in loops:
        loop.join(30)
    stop_status.set()
    reporter.join()
    errors = [repr(loop.error) for loop in loops if loop.error]
    messages: dict[str, int] = {}
    for loop in loops:
        for kind, n in loop.out.messages.items():
            messages[kind] = messages.get(kind, 0) + n
    lateness = [v for loop in loops for v in loop.out.lateness_s]
    write_json(
        Path(args.out),
        {
            "ids": [i for loop in loops for i in loop.out.ids],
            "first_t": min(loop.out.first_t for loop in loops),
            "last_t": max(loop.out.last_t for loop in loops),
            "lateness_s": percentiles(lateness),
            "messages": messages,
            "stride_messages": stride_messages,
            "backlog_after_drain": backlog,
            "drain_s": drained_s,
            "errors": errors,
        },
    )
    state["phase"] = "done"
    write_json(status_path, state)


# -- worker --------------------------------------------------------------------------------------


class TimedInfluxStore(InfluxStore):
    """``InfluxStore`` that notes, per stride, the wall clock when its ``/write`` returned."""

    def __init__(self, config: InfluxConfig) -> None:
        super().__init__(config)
        self.lock = threading.Lock()
        self.written: list[tuple[float, list[tuple[str, str, str, str]]]] = []
        self.count = 0
        self.identities: set[tuple[str, str, str]] = set()
        self.strides_read = 0

    def stride_metrics(self, patient: str, start: datetime, end: datetime) -> list[StrideMetrics]:
        """As the store's, counting the strides read (by the rollup keeper, in ingest)."""
        series = super().stride_metrics(patient, start, end)
        with self.lock:
            self.strides_read += sum(len(s.rows) for s in series)
        return series

    def write_strides(self, records: Sequence[StrideRecord]) -> None:
        super().write_strides(records)
        done = time.time()
        noted = [(r.device, r.side, r.stride.ic_t, r.stride.next_ic_t) for r in records]
        with self.lock:
            self.written.append((done, noted))
            self.count += len(noted)
            self.identities.update((n[0], n[1], n[2]) for n in noted)


class TimedRollups(RollupMaintainer):
    """The product's rollup maintainer, timing each refresh (``enabled=False``: never dirty)."""

    def __init__(self, store: Store, *, exclusive: bool, enabled: bool = True) -> None:
        super().__init__(store, exclusive=exclusive)
        self.enabled = enabled
        self.refreshes: list[tuple[float, int]] = []
        """(seconds, patient-days recomputed) per refresh that recomputed something."""

    def mark_strides(self, records: Sequence[StrideRecord]) -> None:
        if self.enabled:
            super().mark_strides(records)

    def mark_activity(self, records: Sequence[ActivityRecord]) -> None:
        if self.enabled:
            super().mark_activity(records)

    def refresh(self, read_budget_s: float | None = None) -> int:
        began = time.perf_counter()
        done = super().refresh(read_budget_s)
        if done:
            self.refreshes.append((time.perf_counter() - began, done))
        return done


class DisconnectCounter(logging.Handler):
    """Counts the ingest worker's "disconnected from the MQTT broker" warnings."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self._last = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if "disconnected" in record.getMessage() and record.created - self._last > 1.0:
            self.count += 1  # paho may report one disconnect twice
            self._last = record.created


def utc_s(text: str) -> float:
    """RFC 3339 UTC text → epoch seconds."""
    return datetime.fromisoformat(text).timestamp()


def run_worker(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    store = TimedInfluxStore(
        InfluxConfig(
            url=args.influx_url,
            database=args.database,
            username=args.username,
            password=args.password,
        )
    )
    config = MqttConfig(
        port=args.port,
        client_id=args.client_id,
        subscription=args.subscription,
        worker_index=args.index,
        worker_count=args.count,
    )
    worker = IngestWorker(store, config, options=IngestOptions())
    disconnects = DisconnectCounter()
    logging.getLogger("dorsi.server.ingest").addHandler(disconnects)
    rollups = TimedRollups(store, exclusive=worker.rollups.exclusive, enabled=args.rollups == "on")
    worker.rollups = rollups  # the same maintainer, timed (or never dirty: --rollups off)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.start()
    status_path = Path(args.status)
    connected = worker.wait_connected(30.0)

    def snapshot() -> dict[str, Any]:
        m = worker.metrics
        return {
            "connected": connected,
            "strides_written": store.count,
            "unique_written": len(store.identities),
            "disconnects": disconnects.count,
            "messages_received": m.messages_received,
            "not_owned": m.not_owned,
            "messages_acked": m.messages_acked,
            "rejected": m.rejected,
            "store_retries": m.store_retries,
            "queue_depth": m.queue_depth,
            "write_count": m.write_count,
            "write_seconds_sum": m.write_seconds_sum,
            "rollup_refreshes": len(rollups.refreshes),
            "rollup_seconds": [round(sec, 4) for sec, _ in rollups.refreshes],
            "rollup_days": sum(days for _, days in rollups.refreshes),
            "rollup_strides_read": store.strides_read,
        }

    peaks = {"queue_max": 0, "unacked_max": 0}

    while not stop.wait(0.5):
        peaks["queue_max"] = max(peaks["queue_max"], worker.metrics.queue_depth)
        peaks["unacked_max"] = max(peaks["unacked_max"], worker.metrics.unacked)
        write_json(status_path, {**snapshot(), **peaks})
    worker.stop()
    final = {**snapshot(), **peaks}
    ids: list[str] = []
    written_t: list[float] = []
    latency_s: list[float] = []
    for done, noted in store.written:
        for device, side, ic_t, next_ic_t in noted:
            ids.append(f"{device}|{side}|{ic_t}")
            written_t.append(round(done, 6))
            latency_s.append(round(done - utc_s(next_ic_t), 6))
    write_json(
        Path(args.out), {**final, "ids": ids, "written_t": written_t, "latency_s": latency_s}
    )
    write_json(status_path, final)
    store.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    roles = parser.add_subparsers(dest="role", required=True)
    gw = roles.add_parser("gateways", help="a slice of the simulated gateway fleet")
    gw.add_argument("--port", type=int, required=True)
    gw.add_argument("--root", required=True, help="directory for the outboxes")
    gw.add_argument("--first", type=int, default=0)
    gw.add_argument("--count", type=int, default=50)
    gw.add_argument("--rate", type=float, default=1.0, help="multiple of a walking patient's rate")
    gw.add_argument("--uplink", choices=["outbox", "direct"], default="outbox")
    gw.add_argument("--threads", type=int, default=8, help="emitting threads")
    gw.add_argument("--drain-s", type=float, default=60.0)
    gw.add_argument("--seed", type=int, default=1)
    gw.add_argument("--status", required=True)
    gw.add_argument("--out", required=True)
    wk = roles.add_parser("worker", help="one ingest worker with write timing")
    wk.add_argument("--port", type=int, required=True)
    wk.add_argument("--influx-url", required=True)
    wk.add_argument("--database", required=True)
    wk.add_argument("--username", default=None)
    wk.add_argument("--password", default=None)
    wk.add_argument("--client-id", required=True)
    wk.add_argument("--rollups", choices=["on", "off"], default="on")
    wk.add_argument("--subscription", choices=["partitioned", "shared"], default="partitioned")
    wk.add_argument("--index", type=int, default=0, help="this worker's number (partitioned)")
    wk.add_argument("--count", type=int, default=1, help="how many workers (partitioned)")
    wk.add_argument("--status", required=True)
    wk.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.role == "gateways":
        run_gateways(args)
    else:
        run_worker(args)


if __name__ == "__main__":
    main()
