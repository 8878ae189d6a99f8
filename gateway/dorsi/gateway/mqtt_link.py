"""MQTT link: drain the durable outbox to the broker with QoS 1 over a persistent session.

paho-mqtt (MQTT 5, ``clean_start=False`` with a session expiry; or MQTT 3.1.1 with
``clean_session=False`` for brokers without MQTT 5, such as the demo's embedded amqtt) runs its
network loop in its own thread. A drain thread publishes outbox messages in order, at most
``max_inflight`` unacked at a time, and removes a message from the outbox only when the broker
acknowledged it (PUBACK). After any reconnect the drain starts again from the oldest
unacknowledged message: the broker may see a message twice, never zero times (receivers are
idempotent by stride identity).

An MQTT 5 PUBACK "no matching subscribers" (0x10) is not a delivery: the broker accepted the
message and dropped it because no server was subscribed (e.g. Mosquitto right after a restart,
before the server's shared subscription is back). Such messages stay in the outbox; the drain
pauses (``NO_SUBSCRIBER_RETRY_S``, doubling up to ``NO_SUBSCRIBER_RETRY_MAX_S``) and starts
again from the oldest unacknowledged message.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from dorsi.gateway.outbox import Outbox, OutboxMessage

log = logging.getLogger(__name__)

DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600
NO_MATCHING_SUBSCRIBERS = 0x10
"""MQTT 5 PUBACK reason: accepted, but nobody subscribes, so the broker dropped the message."""
NO_SUBSCRIBER_RETRY_S = 1.0
NO_SUBSCRIBER_RETRY_MAX_S = 30.0
PROTOCOLS = ("5", "3.1.1")
"""MQTT protocol versions the link speaks: "5" (default) or "3.1.1" (no session expiry: a
3.1.1 broker keeps a persistent session until it is cleaned)."""
Batcher = Callable[[list[OutboxMessage]], bytes]


@dataclass(frozen=True)
class Will:
    """Last will: published by the broker if the gateway vanishes (e.g. retained ``offline``)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to connect. ``url`` is ``mqtt://host[:1883]`` or ``mqtts://host[:8883]``."""

    url: str
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    keepalive_s: int = 30
    session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S
    protocol: str = "5"
    """MQTT version: "5" or "3.1.1" (see PROTOCOLS)."""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"MQTT protocol {self.protocol!r} must be one of {PROTOCOLS}")
        parsed = urlparse(self.url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError(
                f"broker URL {self.url!r} must look like mqtt://host:1883 or mqtts://host:8883"
            )
        if not self.client_id:
            raise ValueError("client_id must be set (one per gateway/device)")

    @property
    def host(self) -> str:
        host = urlparse(self.url).hostname
        assert host is not None
        return host

    @property
    def tls(self) -> bool:
        return urlparse(self.url).scheme == "mqtts"

    @property
    def port(self) -> int:
        return urlparse(self.url).port or (8883 if self.tls else 1883)


@dataclass
class PublisherStats:
    """Counters for `dorsi-gateway status` and logs."""

    published: int = 0
    acknowledged: int = 0
    connects: int = 0
    disconnects: int = 0
    last_ack_monotonic_s: float | None = None
    batch_sizes: list[int] = field(default_factory=list)
    no_subscriber: int = 0
    """Outbox messages the broker dropped for want of a subscriber (kept and sent again)."""


class OutboxPublisher:
    """Publishes everything in an :class:`Outbox`, in order, until acknowledged."""

    def __init__(
        self,
        outbox: Outbox,
        config: BrokerConfig,
        *,
        will: Will | None = None,
        batchers: dict[str, Batcher] | None = None,
        max_batch: int = 100,
        max_inflight: int = 50,
        on_connect: Callable[[OutboxPublisher], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.batchers = batchers or {}
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self.stats = PublisherStats()
        self._on_connect_hook = on_connect
        self._lock = threading.Condition()
        self._inflight: dict[int, list[int]] = {}  # mid -> outbox ids
        self._last_sent_id = 0
        self._connected = False
        self._generation = 0
        self._stopping = False
        self._drain_thread: threading.Thread | None = None
        self._publishing = False
        self._early_acks: dict[int, ReasonCode] = {}
        self._hold_until = 0.0  # monotonic s: no publishing before (nobody was subscribed)
        self._hold_s = NO_SUBSCRIBER_RETRY_S
        self._rewind = False

        if config.protocol == "5":
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=config.client_id,
                protocol=mqtt.MQTTv5,
            )
        else:
            client = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=config.client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
            )
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if config.tls:
            context = ssl.create_default_context(cafile=config.ca_file)
            client.tls_set_context(context)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        self.client = client

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying forever) and start draining."""
        if self.config.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.config.session_expiry_s
            self.client.connect_async(
                self.config.host,
                self.config.port,
                keepalive=self.config.keepalive_s,
                clean_start=False,
                properties=props,
            )
        else:  # 3.1.1: the persistent session comes from clean_session=False
            self.client.connect_async(
                self.config.host, self.config.port, keepalive=self.config.keepalive_s
            )
        self.client.loop_start()
        self._drain_thread = threading.Thread(target=self._drain, name="outbox-drain", daemon=True)
        self._drain_thread.start()

    def stop(self, *, flush_timeout_s: float = 0.0) -> None:
        """Stop; with ``flush_timeout_s`` wait that long for the outbox to empty first."""
        deadline = time.monotonic() + flush_timeout_s
        while flush_timeout_s and len(self.outbox) and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._drain_thread is not None:
            self._drain_thread.join(timeout=5)
        self.client.disconnect()
        self.client.loop_stop()

    def wake(self) -> None:
        """Tell the drain thread that new messages are in the outbox."""
        with self._lock:
            self._lock.notify_all()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def publish_now(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish outside the outbox (status/heartbeat messages that are fine to lose)."""
        self.client.publish(topic, payload, qos=qos, retain=retain)

    # -- paho callbacks (network thread) ---------------------------------------------------
    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker %s refused the connection: %s", self.config.url, reason_code)
            return
        with self._lock:
            self._connected = True
            self._generation += 1
            self._inflight.clear()  # whatever was in flight is sent again, from the outbox
            self._last_sent_id = 0
            self.stats.connects += 1
            self._lock.notify_all()
        log.info("connected to %s (session present: %s)", self.config.url, flags.session_present)
        if self._on_connect_hook is not None:
            self._on_connect_hook(self)

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected = self._connected
            self._connected = False
            if was_connected:
                self.stats.disconnects += 1
        if was_connected and not self._stopping:
            log.warning("lost the broker %s (%s); will reconnect", self.config.url, reason_code)

    def _handle_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            ids = self._inflight.pop(mid, None)
            if ids is None and self._publishing:
                self._early_acks[mid] = reason_code
            self._lock.notify_all()
        if ids is not None:
            self._acknowledge(ids, reason_code)
        # else: a retransmission from before a reconnect, whose messages were sent again

    def _acknowledge(self, ids: list[int], reason_code: ReasonCode) -> None:
        if reason_code.value == NO_MATCHING_SUBSCRIBERS:
            with self._lock:
                self.stats.no_subscriber += len(ids)
                now = time.monotonic()
                if not self._rewind:  # first drop of this episode: pause, then send again
                    self._hold_until = now + self._hold_s
                    log.warning(
                        "broker %s dropped %d message(s): no server subscribed; keeping them, "
                        "retrying in %.0f s",
                        self.config.url,
                        len(ids),
                        self._hold_s,
                    )
                    self._hold_s = min(2.0 * self._hold_s, NO_SUBSCRIBER_RETRY_MAX_S)
                self._rewind = True
                self._lock.notify_all()
            return
        if reason_code.is_failure:
            log.error(
                "broker rejected %d message(s): %s; they stay in the outbox", len(ids), reason_code
            )
            return
        self.outbox.ack(ids)
        with self._lock:
            if not self._rewind:
                self._hold_s = NO_SUBSCRIBER_RETRY_S  # subscribers are back
        self.stats.acknowledged += len(ids)
        self.stats.last_ack_monotonic_s = time.monotonic()

    # -- drain thread ----------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (
                    not self._connected
                    or len(self._inflight) >= self.max_inflight
                    or time.monotonic() < self._hold_until
                ):
                    held_s = self._hold_until - time.monotonic()
                    self._lock.wait(timeout=min(0.5, held_s) if held_s > 0 else 0.5)
                if self._stopping:
                    return
                if self._rewind:  # send everything not acknowledged again, oldest first
                    self._rewind = False
                    self._inflight.clear()
                    self._last_sent_id = 0
                    self._generation += 1
                after_id = self._last_sent_id
                generation = self._generation
                room = self.max_inflight - len(self._inflight)
            batch = self.outbox.pending(limit=room * self.max_batch, after_id=after_id)
            if not batch:
                with self._lock:
                    if not self._stopping and self._generation == generation:
                        self._lock.wait(timeout=0.2)
                continue
            for group in self._groups(batch):
                if not self._send(group, generation):
                    break

    def _groups(self, messages: list[OutboxMessage]) -> list[list[OutboxMessage]]:
        """Consecutive messages with the same topic and a batchable kind travel together."""
        groups: list[list[OutboxMessage]] = []
        for message in messages:
            last = groups[-1] if groups else None
            if (
                last is not None
                and message.kind in self.batchers
                and last[0].kind == message.kind
                and last[0].topic == message.topic
                and len(last) < self.max_batch
            ):
                last.append(message)
            else:
                groups.append([message])
        return groups

    def _send(self, group: list[OutboxMessage], generation: int) -> bool:
        first = group[0]
        payload = self.batchers[first.kind](group) if first.kind in self.batchers else first.payload
        with self._lock:
            if self._stopping or not self._connected or self._generation != generation:
                return False
            self._publishing = True
        # Never hold our lock inside paho: its network thread holds paho's locks while it calls
        # _handle_publish, which takes ours. An ack that beats the mid bookkeeping is parked.
        try:
            info = self.client.publish(first.topic, payload, qos=first.qos, retain=first.retain)
        finally:
            with self._lock:
                self._publishing = False
                early = self._early_acks.copy()
                self._early_acks.clear()
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        ids = [m.id for m in group]
        with self._lock:
            self._last_sent_id = group[-1].id
            self.stats.published += len(group)
            self.stats.batch_sizes.append(len(group))
            if info.mid not in early:
                self._inflight[info.mid] = ids
                return True
        self._acknowledge(ids, early[info.mid])
        return True
