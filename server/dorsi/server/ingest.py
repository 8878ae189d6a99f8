"""MQTT ingest: subscription → validate → batched idempotent write → ack.

N workers split the patients between them (``subscription="partitioned"``, the default: each
subscribes to everything and keeps the patients it owns, :mod:`dorsi.server.partition`) or
let the broker split messages (``"shared"``: MQTT 5 shared subscriptions, for brokers that
restore them across restarts; Mosquitto 2.0.11 does not and drops what arrives meanwhile).

The paho network thread only enqueues received messages; a validation thread takes them in
batches and validates them (:mod:`dorsi.server.validate`); a commit thread (at most two batches
behind) writes the valid items, publishes the batch's dead letters together (QoS 1) and waits for
all their PUBACKs at once, and only then acknowledges the batch's messages (``manual_ack``).
While the store is unavailable nothing is acknowledged and the write is retried with backoff, so
a crash or an outage loses nothing: the broker redelivers to the persistent session and the
identity-keyed write overwrites. When the store *refuses* a write (a value it cannot hold), the
batch is bisected until the refused items are found: they are dead-lettered, their siblings are
stored.

A third thread keeps the daily rollups (:mod:`dorsi.server.rollups`): the commit thread only
queues what it wrote, and every ``rollup_interval_s`` the rollup thread folds the queue into its
in-memory copy of the touched patient-days and rewrites their rollups, so neither writes nor acks
ever wait for rollups. A partitioned worker is the only writer of its patients and trusts its
copy; a shared-subscription worker re-reads each touched day from the store.

Memory is bounded by the MQTT 5 Receive Maximum the worker announces: the broker should never
have more than ``receive_maximum`` unacknowledged messages in flight to it (each at most 256 KiB
once validated; see ``dorsi_ingest_unacked_messages`` for what the broker really sends), and by
``DEADLETTER_WINDOW`` dead letters awaiting their PUBACK.

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
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from dorsi.server.deadletter import deadletter_message
from dorsi.server.metrics import Metrics
from dorsi.server.partition import Partition
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
    day_start,
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
SUBSCRIPTIONS = ("partitioned", "shared")
DEADLETTER_WINDOW = 200
"""Dead letters published before waiting for their PUBACKs (bounds what paho holds for them);
lowered to the broker's Receive Maximum when its CONNACK announces a smaller one."""
DEADLETTER_WINDOW_311 = 20
"""The window with MQTT 3.1.1, which has no Receive Maximum (paho's and Mosquitto's default)."""
DEADLETTER_TIMEOUT_S = 10.0
"""Warn when the broker has not acknowledged an outstanding dead letter for this long (s); the
worker keeps waiting (paho resends after a reconnect) and acknowledges nothing meanwhile."""
NO_MATCHING_SUBSCRIBERS = 0x10
"""MQTT 5 PUBACK reason: accepted, but nobody subscribes, so the broker drops the message."""


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
    """MQTT version: "5" or "3.1.1" (brokers without MQTT 5; no shared subscriptions)."""
    subscription: str = "partitioned"
    """"partitioned" (plain subscriptions; worker ``worker_index`` of ``worker_count`` keeps the
    patients it owns) or "shared" (MQTT 5 shared subscription in ``share_group``)."""
    worker_index: int = 0
    worker_count: int = 1

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"MQTT protocol {self.protocol!r} must be one of {PROTOCOLS}")
        if self.subscription not in SUBSCRIPTIONS:
            raise ValueError(f"subscription {self.subscription!r} must be one of {SUBSCRIPTIONS}")
        if self.subscription == "shared" and self.protocol != "5":
            raise ValueError("shared subscriptions need MQTT 5; use subscription=partitioned")
        Partition(self.worker_index, self.worker_count)  # raises on a bad index or count
        if not 1 <= self.receive_maximum <= 65535:
            raise ValueError(f"receive_maximum {self.receive_maximum} is outside 1-65535")
        if not self.client_id or any(c in self.share_group for c in "/+#"):
            raise ValueError("client_id must be set and share_group must not contain / + #")

    def subscriptions(self) -> list[str]:
        """Topic filters: plain ones when partitioned; else shared for strides/activity/battery
        and plain for the retained status.

        Shared subscriptions never deliver retained messages, so every worker subscribes to
        ``status`` directly and gets each gateway's retained status at start; status writes are
        idempotent, so N workers writing the same status cost little. MQTT 3.1.1 has no shared
        subscriptions.
        """
        if self.subscription == "partitioned":
            return [f"dorsi/v1/+/+/{k}" for k in KINDS]
        shared = [f"$share/{self.share_group}/dorsi/v1/+/+/{k}" for k in KINDS if k != "status"]
        return [*shared, "dorsi/v1/+/+/status"]


@dataclass(frozen=True)
class IngestOptions:
    """Batching: write at most ``batch_max_strides`` per round, waiting ``linger_s`` to fill it.

    Rollups: refreshed every ``rollup_interval_s``; each refresh spends at most about
    ``rollup_read_budget_s`` reading days from the store (:meth:`RollupMaintainer.refresh`).
    """

    batch_max_strides: int = 5000
    linger_s: float = 0.05
    rollup_interval_s: float = 5.0
    rollup_read_budget_s: float = 1.0


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


Record = StrideRecord | ActivityRecord | BatteryRecord | StatusRecord


@dataclass(frozen=True)
class _Item:
    """One record to store, with the message and place it came from (for a dead letter)."""

    message: Received
    where: str
    """``strides[3]``, ``minutes[0]``, or "" for a message that is one record."""
    record: Record

    def refused(self, exc: Exception) -> tuple[str, Rejected]:
        """The dead letter for this item when the store refuses it."""
        reason = f"store refused the write: {exc}"
        record = self.record
        if isinstance(record, StrideRecord):
            payload = record.stride.model_dump_json(by_alias=True).encode()
        elif isinstance(record, ActivityRecord):
            payload = record.minute.model_dump_json(by_alias=True).encode()
        else:
            payload = self.message.payload
        return self.message.topic, Rejected(
            f"{self.where}: {reason}" if self.where else reason, payload
        )


@dataclass
class _Batch:
    messages: list[Received] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)
    dead: list[tuple[str, Rejected]] = field(default_factory=list)
    """Rejected by validation (and, once written, refused by the store)."""
    written: bool = False
    dead_sent: int = 0
    """How many of ``dead`` the broker has accepted (a retry goes on from there)."""


class _Stopped(Exception):  # noqa: N818 - control flow, not an error
    """The worker is stopping: leave the batch unacknowledged for the broker to redeliver."""


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
        self.rollups = RollupMaintainer(store, exclusive=config.subscription == "partitioned")
        self._partition = (
            Partition(config.worker_index, config.worker_count)
            if config.subscription == "partitioned"
            else Partition()
        )
        self._queue: queue.Queue[Received] = queue.Queue()
        self._ack_lock = threading.Lock()
        self._deliveries = 0
        self._latest_delivery: dict[int, int] = {}  # packet id -> newest delivery carrying it
        self._stop = threading.Event()
        self._rollups_stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rollup_thread: threading.Thread | None = None
        self._validated: queue.Queue[_Batch] = queue.Queue(maxsize=2)
        self._connected = threading.Event()
        self._pubacks: dict[int, ReasonCode] = {}  # dead letter packet id -> broker's PUBACK
        self._puback = threading.Condition()
        self._warned: set[str] = set()
        self._deadletter_window = (
            DEADLETTER_WINDOW if self.config.protocol == "5" else DEADLETTER_WINDOW_311
        )
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
        client.on_publish = self._on_publish
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(DEADLETTER_WINDOW)
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
            broker_maximum = getattr(properties, "ReceiveMaximum", None)
            if isinstance(broker_maximum, int) and broker_maximum > 0:
                self._deadletter_window = min(DEADLETTER_WINDOW, broker_maximum)
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
        if not self._partition.owns(msg.topic):  # another worker's device: it stores this one
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)
            self.metrics.not_owned += 1
            return
        with self._ack_lock:
            self._deliveries += 1
            delivery = self._deliveries
            if msg.qos > 0:
                self._latest_delivery[msg.mid] = delivery
            unacked = self.metrics.unacked = len(self._latest_delivery)
        self._queue.put(Received(msg.mid, msg.qos, msg.topic, bytes(msg.payload), delivery))
        self.metrics.queue_depth = self._queue.qsize()
        if unacked > self.config.receive_maximum and self.config.protocol == "5":
            self._warn_once(
                "receive-maximum",
                "the broker has %d unacknowledged messages in flight to this worker, more than "
                "the Receive Maximum %d it announced",
                unacked,
                self.config.receive_maximum,
            )

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        """A dead letter's PUBACK: hand it to the commit thread waiting for it."""
        with self._puback:
            self._pubacks[mid] = reason
            self._puback.notify_all()

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
        self._rollup_thread = threading.Thread(
            target=self._rollup_loop, name="dorsi-rollups", daemon=True
        )
        for thread in [*self._threads, self._rollup_thread]:
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
        self._rollups_stop.set()  # after the last commit: its strides get their rollups too
        if self._rollup_thread is not None:
            self._rollup_thread.join(timeout_s)
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
            except Exception:  # a bug must not stop ingest; the messages stay unacked
                self.metrics.internal_errors += 1
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
        while not self._stop.is_set():
            try:
                batch: _Batch = self._validated.get(timeout=0.2)
            except queue.Empty:
                continue
            self._commit_retrying(batch)

    def _rollup_loop(self) -> None:
        """Thread 3: bring the written days' rollups up to date every ``rollup_interval_s``."""
        rechecked = self._recheck_recent_days()
        while not self._rollups_stop.wait(self.options.rollup_interval_s):
            rechecked = rechecked or self._recheck_recent_days()
            self._refresh_rollups(self.options.rollup_read_budget_s)
        self.rollups.cancel_rechecks()  # the next start checks them again
        self._refresh_rollups(None)  # stopping: every day written, however long the reads take

    def _recheck_recent_days(self) -> bool:
        """Have yesterday's and today's rollups of this worker's patients read and rewritten
        (budgeted, after live days): a worker killed between writing strides and refreshing
        their rollups left them behind. False if the store could not say which patients."""
        today = datetime.now(UTC).date()
        days = (today - timedelta(days=1), today)
        try:
            patients = self.store.patients_with_strides(
                day_start(days[0]), day_start(today + timedelta(days=1))
            )
        except StoreError as exc:
            log.warning("rollup start-up check postponed: %s", exc)
            return False
        except Exception:
            self.metrics.internal_errors += 1
            log.exception("rollup start-up check failed")
            return False
        owned = [p for p in patients if self._partition.owns_patient(p)]
        self.rollups.recheck((p, day) for p in owned for day in days)
        log.info("rollups: checking %d patients' last two days in the background", len(owned))
        return True

    def _commit_retrying(self, batch: _Batch) -> None:
        """Commit ``batch``; after an unexpected error retry it with backoff (nothing is acked).

        The steps already done (write, dead letters) are not repeated.
        """
        attempt = 0
        while not self._stop.is_set():
            try:
                self._commit(batch)
                return
            except Exception:
                self.metrics.internal_errors += 1
                if attempt == 0:
                    log.exception(
                        "unexpected error committing %d messages; retrying, nothing is "
                        "acknowledged meanwhile",
                        len(batch.messages),
                    )
            if self._stop.wait(backoff_s(attempt)):
                return
            attempt += 1

    def _refresh_rollups(self, read_budget_s: float | None) -> None:
        began = time.monotonic()
        days = 0
        try:
            days = self.rollups.refresh(read_budget_s)
        except StoreError as exc:
            log.warning("rollup refresh postponed: %s", exc)
        except Exception:  # the days are read again next time; ingest goes on
            self.metrics.internal_errors += 1
            log.exception("rollup refresh failed")
        self.metrics.observe_rollups(
            time.monotonic() - began,
            days,
            self.rollups.store_reads,
            self.rollups.cached_strides,
            self.rollups.pending,
        )

    def process(self, messages: Sequence[Received]) -> bool:
        """Validate, write, dead-letter and ack ``messages`` now (synchronously)."""
        return self._commit(self._read(messages))

    def _commit(self, batch: _Batch) -> bool:
        """Write, dead-letter, then ack; False if stopped before the acks (nothing acked)."""
        try:
            if not batch.written:
                self._write(batch)
            self._publish_dead(batch)
        except _Stopped:
            return False
        for message in batch.messages:
            if self._may_ack(message):
                self._client.ack(message.mid, message.qos)
        with self._ack_lock:
            self.metrics.unacked = len(self._latest_delivery)
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

    # -- validation ------------------------------------------------------------------------------

    def _read(self, messages: Sequence[Received]) -> _Batch:
        batch = _Batch(messages=list(messages))
        now = datetime.now(UTC)
        for message in messages:
            self.metrics.messages_received += 1
            try:
                items, dead = _read_one(message, now)
            except Exception as exc:  # a validator bug: keep the message, as a dead letter
                self.metrics.internal_errors += 1
                log.exception("unexpected error validating a message from %s", message.topic)
                reason = f"internal error validating the message ({type(exc).__name__}: {exc})"
                items, dead = [], [(message.topic, Rejected(reason, message.payload))]
            batch.items.extend(items)
            batch.dead.extend(dead)
        return batch

    # -- store -----------------------------------------------------------------------------------

    def _write(self, batch: _Batch) -> None:
        """Store the batch's items; the ones the store refuses join its dead letters."""
        began = time.perf_counter()
        refused: list[tuple[str, Rejected]] = []
        written = self._store_isolating(batch.items, refused)
        self.metrics.store_refused += len(refused)
        batch.dead.extend(refused)
        batch.written = True
        self.metrics.observe_write(time.perf_counter() - began, written)

    def _store_isolating(self, items: list[_Item], refused: list[tuple[str, Rejected]]) -> int:
        """Write ``items``; if the store refuses, bisect to find and dead-letter the refused ones.

        Returns how many strides were written. Writes are idempotent (identity-keyed), so a part
        written again after a refusal (e.g. an InfluxDB partial write) overwrites itself.
        """
        if not items:
            return 0
        exc = self._write_waiting(items)
        if exc is None:
            return sum(isinstance(item.record, StrideRecord) for item in items)
        if len(items) == 1:
            refused.append(items[0].refused(exc))
            return 0
        if not refused:
            log.error(
                "the store refused a write of %d items (%s); isolating the refused ones",
                len(items),
                exc,
            )
        half = len(items) // 2
        return self._store_isolating(items[:half], refused) + self._store_isolating(
            items[half:], refused
        )

    def _write_waiting(self, items: Sequence[_Item]) -> Exception | None:
        """Write ``items``, waiting out store outages; the store's refusal, or None if written.

        Raises :class:`_Stopped` when the worker stops during an outage.
        """
        attempt = 0
        outage_logged = False
        while True:
            try:
                self._write_once(items)
            except StoreUnavailable as exc:
                if not outage_logged:
                    log.error(
                        "store unavailable, holding %d items unacknowledged: %s", len(items), exc
                    )
                    outage_logged = True
                self.metrics.store_retries += 1
                if self._stop.wait(backoff_s(attempt)):
                    raise _Stopped from None
                attempt += 1
                continue
            except (StoreError, ValueError, OverflowError) as exc:  # refused, not down
                return exc
            if outage_logged:
                log.info("store available again; %d items written", len(items))
            return None

    def _write_once(self, items: Sequence[_Item]) -> None:
        strides = [i.record for i in items if isinstance(i.record, StrideRecord)]
        activity = [i.record for i in items if isinstance(i.record, ActivityRecord)]
        battery = [i.record for i in items if isinstance(i.record, BatteryRecord)]
        status = [i.record for i in items if isinstance(i.record, StatusRecord)]
        if strides:
            self.store.write_strides(strides)
            self.rollups.mark_strides(strides)
        if activity:
            self.store.write_activity(activity)
            self.rollups.mark_activity(activity)
        if battery:
            self.store.write_battery(battery)
        if status:
            self.store.write_status(status)

    # -- dead letters ----------------------------------------------------------------------------

    def _publish_dead(self, batch: _Batch) -> None:
        """Publish dead letters (QoS 1) and wait until the broker has accepted every one.

        They go out a window at a time (``DEADLETTER_WINDOW``, or the broker's Receive Maximum if
        smaller), each window waiting for all its PUBACKs at once; a dead letter the broker
        refuses (PUBACK reason >= 0x80) is published again after a backoff. Raises
        :class:`_Stopped` if the worker stops first.
        """
        window = self._deadletter_window
        dead = batch.dead
        for start in range(batch.dead_sent, len(dead), window):
            part = dead[start : start + window]
            pending = list(part)
            attempt = 0
            while pending:
                published: dict[int, tuple[str, Rejected]] = {}
                for topic, rejected in pending:
                    payload = deadletter_message(topic, rejected)
                    info = self._client.publish(DEADLETTER_TOPIC, payload, qos=1)
                    published[info.mid] = (topic, rejected)
                pending = self._await_pubacks(published)
                if pending:
                    self.metrics.deadletter_retries += len(pending)
                    if self._stop.wait(backoff_s(attempt)):
                        raise _Stopped
                    attempt += 1
            for topic, rejected in part:
                log.warning("dead letter from %s: %s", topic, rejected.reason)
            self.metrics.rejected += len(part)
            batch.dead_sent = start + len(part)

    def _await_pubacks(
        self, published: dict[int, tuple[str, Rejected]]
    ) -> list[tuple[str, Rejected]]:
        """Wait for the PUBACK of every packet id in ``published``; the ones the broker refused."""
        waiting = set(published)
        refused: list[tuple[str, Rejected]] = []
        refusal: ReasonCode | None = None
        last_progress = time.monotonic()
        warned = False
        with self._puback:
            while waiting:
                arrived = [mid for mid in waiting if mid in self._pubacks]
                for mid in arrived:
                    reason = self._pubacks.pop(mid)
                    waiting.discard(mid)
                    if reason.is_failure:
                        refused.append(published[mid])
                        refusal = reason
                    elif reason.value == NO_MATCHING_SUBSCRIBERS:
                        self.metrics.deadletters_unsubscribed += 1
                        self._warn_once(
                            "no-subscriber",
                            "nobody subscribes to %s: the broker drops dead letters; keep a "
                            "persistent QoS 1 subscription to it",
                            DEADLETTER_TOPIC,
                        )
                if not waiting:
                    break
                if arrived:
                    last_progress = time.monotonic()
                elif not warned and time.monotonic() - last_progress > DEADLETTER_TIMEOUT_S:
                    log.warning(
                        "the broker has not acknowledged %d dead letters for %.0f s; waiting "
                        "(nothing is acknowledged meanwhile)",
                        len(waiting),
                        DEADLETTER_TIMEOUT_S,
                    )
                    warned = True
                if self._stop.is_set():
                    raise _Stopped
                self._puback.wait(0.2)
        if refused:
            log.error(
                "the broker refused %d dead letters (%s); publishing them again",
                len(refused),
                refusal,
            )
        return refused

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)


def _read_one(message: Received, now: datetime) -> tuple[list[_Item], list[tuple[str, Rejected]]]:
    """One message → the items to store and its dead letters."""
    result = read_message(message.topic, message.payload, now=now)
    if isinstance(result, Rejected):
        return [], [(message.topic, result)]
    dead = [(message.topic, r) for r in result.rejected]
    items: list[_Item] = []
    if isinstance(result, StridesIn):
        env = result.envelope
        items = [
            _Item(
                message,
                f"strides[{i}]",
                StrideRecord(env.patient, env.device, env.side, env.gateway, env.algorithm, s),
            )
            for i, s in zip(result.indices, result.strides, strict=True)
        ]
    elif isinstance(result, ActivityIn):
        env_a = result.envelope
        items = [
            _Item(
                message, f"minutes[{i}]", ActivityRecord(env_a.patient, env_a.device, env_a.side, m)
            )
            for i, m in zip(result.indices, result.minutes, strict=True)
        ]
    elif isinstance(result, BatteryIn):
        msg = result.message
        items = [_Item(message, "", BatteryRecord(msg.patient, msg.device, msg.t, msg.battery_pct))]
    elif isinstance(result, StatusIn):
        st = result.message
        record = StatusRecord(
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
        items = [_Item(message, "", record)]
    return items, dead
