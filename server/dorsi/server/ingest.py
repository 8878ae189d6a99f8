"""MQTT ingest: shared subscription → validate → batched idempotent write → ack.

The paho network thread only enqueues received messages; a validation thread takes them in
batches and validates them (:mod:`dorsi.server.validate`); a commit thread (at most two batches
behind) writes the valid items, publishes dead letters for the rejected ones (QoS 1, waiting for
the broker's PUBACK) and only then acknowledges the batch's messages (``manual_ack``). While
the store is unavailable nothing is acknowledged and the write is retried with backoff, so a
crash or an outage loses nothing: the broker redelivers to the persistent session and the
identity-keyed write overwrites.

Memory is bounded by the MQTT 5 Receive Maximum the worker announces: the broker never has more
than ``receive_maximum`` unacknowledged messages in flight to it (each at most 256 KiB).

With ``protocol="3.1.1"`` (brokers without MQTT 5, such as the demo's embedded amqtt) the worker
uses ``clean_session=False`` instead of a session expiry and plain (not shared) subscriptions, so
run one worker only; 3.1.1 has no Receive Maximum, the broker's own in-flight limit applies.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from dorsi.server.deadletter import deadletter_message
from dorsi.server.metrics import Metrics
from dorsi.server.retry import backoff_s
from dorsi.server.rollups import RollupMaintainer
from dorsi.server.schema import format_utc
from dorsi.server.store import (
    ActivityRecord,
    BatteryRecord,
    StatusRecord,
    Store,
    StoreError,
    StoreUnavailable,
    StrideRecord,
)
from dorsi.server.validate import (
    DEADLETTER_TOPIC,
    KINDS,
    ActivityIn,
    BatteryIn,
    Rejected,
    StatusIn,
    StridesIn,
    read_message,
)

log = logging.getLogger(__name__)

SHARE_GROUP = "dorsi-server"
PROTOCOLS = ("5", "3.1.1")
DEADLETTER_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MqttConfig:
    """Broker connection of one ingest worker (``client_id`` names its persistent session)."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "dorsi-server-1"
    username: str | None = None
    password: str | None = None
    share_group: str = SHARE_GROUP
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 1000
    protocol: str = "5"
    """MQTT version: "5" (shared subscriptions, N workers) or "3.1.1" (one worker)."""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"MQTT protocol {self.protocol!r} must be one of {PROTOCOLS}")
        if not 1 <= self.receive_maximum <= 65535:
            raise ValueError(f"receive_maximum {self.receive_maximum} is outside 1-65535")
        if not self.client_id or any(c in self.share_group for c in "/+#"):
            raise ValueError("client_id must be set and share_group must not contain / + #")

    def subscriptions(self) -> list[str]:
        """Topic filters: shared for strides/activity/battery; plain for the retained status.

        Shared subscriptions never deliver retained messages, so every worker subscribes to
        ``status`` directly and gets each gateway's retained status at start; status writes are
        idempotent, so N workers writing the same status cost little. MQTT 3.1.1 has no shared
        subscriptions: one plain subscription per kind.
        """
        if self.protocol == "3.1.1":
            return [f"dorsi/v1/+/+/{k}" for k in KINDS]
        shared = [f"$share/{self.share_group}/dorsi/v1/+/+/{k}" for k in KINDS if k != "status"]
        return [*shared, "dorsi/v1/+/+/status"]


@dataclass(frozen=True)
class IngestOptions:
    """Batching: write at most ``batch_max_strides`` per round, waiting ``linger_s`` to fill it."""

    batch_max_strides: int = 5000
    linger_s: float = 0.05
    rollup_interval_s: float = 5.0


@dataclass(frozen=True)
class Received:
    """One message as the network thread saw it."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    delivery: int = 0
    """Arrival number (0: not from the network thread). Packet ids are reused by the broker, and a
    resent message (after a broker or worker restart) arrives again with the same id."""


@dataclass
class _Batch:
    messages: list[Received] = field(default_factory=list)
    strides: list[StrideRecord] = field(default_factory=list)
    activity: list[ActivityRecord] = field(default_factory=list)
    battery: list[BatteryRecord] = field(default_factory=list)
    status: list[StatusRecord] = field(default_factory=list)
    dead: list[tuple[str, Rejected]] = field(default_factory=list)


class IngestWorker:
    """One ingest process's MQTT client and consumer thread."""

    def __init__(
        self,
        store: Store,
        config: MqttConfig,
        *,
        options: IngestOptions | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.options = options or IngestOptions()
        self.metrics = metrics or Metrics()
        self.rollups = RollupMaintainer(store)
        self._queue: queue.Queue[Received] = queue.Queue()
        self._ack_lock = threading.Lock()
        self._deliveries = 0
        self._latest_delivery: dict[int, int] = {}  # packet id -> newest delivery carrying it
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._validated: queue.Queue[_Batch] = queue.Queue(maxsize=2)
        self._connected = threading.Event()
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        if self.config.protocol == "5":
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=self.config.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        else:
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=self.config.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
                manual_ack=True,
            )
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.max_queued_messages_set(0)
        return client

    # -- paho callbacks (network thread) ---------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker refused the connection: %s", reason)
            return
        if self.config.protocol == "5":
            client.subscribe(
                [(topic, SubscribeOptions(qos=1)) for topic in self.config.subscriptions()]
            )
        else:
            client.subscribe([(topic, 1) for topic in self.config.subscriptions()])
        self._connected.set()
        log.info(
            "connected to %s:%d (session present: %s)",
            self.config.host,
            self.config.port,
            flags.session_present,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the MQTT broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._ack_lock:
            self._deliveries += 1
            delivery = self._deliveries
            if msg.qos > 0:
                self._latest_delivery[msg.mid] = delivery
        self._queue.put(Received(msg.mid, msg.qos, msg.topic, bytes(msg.payload), delivery))
        self.metrics.queue_depth = self._queue.qsize()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect (persistent session, clean_start=False) and start the consumer thread."""
        if self.config.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.config.session_expiry_s
            props.ReceiveMaximum = self.config.receive_maximum
            self._client.connect_async(
                self.config.host,
                self.config.port,
                keepalive=self.config.keepalive_s,
                clean_start=False,
                properties=props,
            )
        else:  # 3.1.1: the persistent session comes from clean_session=False
            self._client.connect_async(
                self.config.host, self.config.port, keepalive=self.config.keepalive_s
            )
        self._client.loop_start()
        self._threads = [
            threading.Thread(target=self._validate_loop, name="dorsi-validate", daemon=True),
            threading.Thread(target=self._commit_loop, name="dorsi-commit", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """Block until subscribed to the broker (or timeout); True if connected."""
        return self._connected.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0, *, retire: bool = False) -> None:
        """Finish the batch in hand, then disconnect; unacknowledged messages stay queued.

        The broker keeps a stopped worker's session, and a shared subscription keeps sending that
        session its share of the messages until the worker comes back. ``retire=True`` ends the
        session instead (for a worker that is removed for good): its queued messages are dropped
        by the broker, so retire only a drained worker.
        """
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        props = None
        if retire and self.config.protocol == "3.1.1":
            log.warning("MQTT 3.1.1 cannot end a session on disconnect; it stays on the broker")
        elif retire:
            props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0
        self._client.disconnect(properties=props)
        self._client.loop_stop()

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to return (safe from a signal handler)."""
        self._stop.set()

    def run_forever(self) -> None:
        """Start and block until :meth:`stop` is called from another thread or a signal."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    # -- consumer thread -------------------------------------------------------------------------

    def _take_batch(self) -> list[Received]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.options.linger_s
        budget = self.options.batch_max_strides
        size = len(first.payload)
        while size < budget * 400:  # ~400 bytes of JSON per stride
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            batch.append(item)
            size += len(item.payload)
        self.metrics.queue_depth = self._queue.qsize()
        return batch

    def _validate_loop(self) -> None:
        """Thread 1: take batches of messages, validate them, hand them to the commit thread."""
        while not self._stop.is_set():
            messages = self._take_batch()
            if not messages:
                continue
            try:
                batch = self._read(messages)
            except Exception:  # a validator bug must not stop ingest; messages stay unacked
                log.exception("unexpected error validating %d messages", len(messages))
                continue
            while not self._stop.is_set():
                try:
                    self._validated.put(batch, timeout=0.2)
                    break
                except queue.Full:
                    continue

    def _commit_loop(self) -> None:
        """Thread 2: write, dead-letter and ack validated batches (overlaps with validation)."""
        last_rollup = time.monotonic()
        while not self._stop.is_set():
            try:
                batch: _Batch | None = self._validated.get(timeout=0.2)
            except queue.Empty:
                batch = None
            if batch is not None:
                try:
                    self._commit(batch)
                except Exception:  # keep ingesting; the batch stays unacknowledged
                    log.exception("unexpected error committing %d messages", len(batch.messages))
            if time.monotonic() - last_rollup >= self.options.rollup_interval_s or (
                batch is None and self.rollups.pending
            ):
                self._refresh_rollups()
                last_rollup = time.monotonic()
        self._refresh_rollups()

    def _refresh_rollups(self) -> None:
        try:
            self.rollups.refresh()
        except StoreError as exc:
            log.warning("rollup refresh postponed: %s", exc)

    def process(self, messages: Sequence[Received]) -> bool:
        """Validate, write, dead-letter and ack ``messages`` now (synchronously)."""
        return self._commit(self._read(messages))

    def _commit(self, batch: _Batch) -> bool:
        """Write, dead-letter, then ack; False if stopped before the acks (nothing acked)."""
        if not self._write(batch):
            return False
        if not self._publish_dead(batch.dead):
            return False
        for message in batch.messages:
            if self._may_ack(message):
                self._client.ack(message.mid, message.qos)
        self.metrics.messages_acked += len(batch.messages)
        return True

    def _may_ack(self, message: Received) -> bool:
        """Ack a packet id only for its newest delivery.

        After a reconnect the broker resends unacknowledged messages with their ids. Acking an
        older copy's id could acknowledge a *different* message the broker has since sent with the
        reused id, before that one is written. The newest delivery acks once it is written.
        """
        if message.delivery == 0 or message.qos == 0:
            return True
        with self._ack_lock:
            if self._latest_delivery.get(message.mid) != message.delivery:
                return False
            del self._latest_delivery[message.mid]
            return True

    def _read(self, messages: Sequence[Received]) -> _Batch:
        batch = _Batch(messages=list(messages))
        now = datetime.now(UTC)
        for message in messages:
            result = read_message(message.topic, message.payload, now=now)
            self.metrics.messages_received += 1
            if isinstance(result, Rejected):
                batch.dead.append((message.topic, result))
                continue
            batch.dead.extend((message.topic, r) for r in result.rejected)
            if isinstance(result, StridesIn):
                env = result.envelope
                batch.strides.extend(
                    StrideRecord(env.patient, env.device, env.side, env.gateway, env.algorithm, s)
                    for s in result.strides
                )
            elif isinstance(result, ActivityIn):
                env_a = result.envelope
                batch.activity.extend(
                    ActivityRecord(env_a.patient, env_a.device, env_a.side, m)
                    for m in result.minutes
                )
            elif isinstance(result, BatteryIn):
                msg = result.message
                batch.battery.append(BatteryRecord(msg.patient, msg.device, msg.t, msg.battery_pct))
            elif isinstance(result, StatusIn):
                st = result.message
                batch.status.append(
                    StatusRecord(
                        st.patient,
                        st.device,
                        st.t or format_utc(now),
                        st.state,
                        st.side,
                        st.gateway,
                        st.link,
                        st.battery_pct,
                        st.firmware,
                        st.last_stride_t,
                        st.outbox_backlog,
                    )
                )
        return batch

    def _write(self, batch: _Batch) -> bool:
        attempt = 0
        outage_logged = False
        while True:
            try:
                began = time.perf_counter()
                self._write_once(batch)
            except StoreUnavailable as exc:
                if not outage_logged:
                    log.error(
                        "store unavailable, holding %d messages unacknowledged: %s",
                        len(batch.messages),
                        exc,
                    )
                    outage_logged = True
                self.metrics.store_retries += 1
                if self._stop.wait(backoff_s(attempt)):
                    return False
                attempt += 1
                continue
            except (StoreError, ValueError) as exc:  # refused, not down: retrying cannot help
                self._dead_letter_refused(batch, exc)
            self.metrics.observe_write(time.perf_counter() - began, len(batch.strides))
            if outage_logged:
                log.info("store available again; %d messages written", len(batch.messages))
            return True

    def _write_once(self, batch: _Batch) -> None:
        if batch.strides:
            self.store.write_strides(batch.strides)
            self.rollups.mark_strides(batch.strides)
        if batch.activity:
            self.store.write_activity(batch.activity)
            self.rollups.mark_activity(batch.activity)
        if batch.battery:
            self.store.write_battery(batch.battery)
        if batch.status:
            self.store.write_status(batch.status)

    def _dead_letter_refused(self, batch: _Batch, exc: Exception) -> None:
        """The store refused the batch (not an outage): keep each message as a dead letter."""
        log.error("store refused a batch of %d messages: %s", len(batch.messages), exc)
        batch.strides.clear()
        batch.activity.clear()
        batch.battery.clear()
        batch.status.clear()
        batch.dead.extend(
            (m.topic, Rejected(f"store refused the write: {exc}", m.payload))
            for m in batch.messages
        )

    def _publish_dead(self, dead: list[tuple[str, Rejected]]) -> bool:
        infos = []
        for topic, rejected in dead:
            log.warning("dead letter from %s: %s", topic, rejected.reason)
            payload = deadletter_message(topic, rejected)
            infos.append(self._client.publish(DEADLETTER_TOPIC, payload, qos=1))
        for info in infos:
            while not info.is_published():
                if self._stop.wait(0.01):
                    return False
        self.metrics.rejected += len(dead)
        return True
