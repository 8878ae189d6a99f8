"""bleak ``BaseBleakClient`` on a :class:`~.hub.BumbleHub`: a GATT client over bumble.

Behaves like bleak's BlueZ backend where the gateway can tell: ``connect()`` raises
``BleakDeviceNotFoundError`` for an address no scan has seen (after scanning ``timeout`` for
it), ``TimeoutError`` when the link cannot be made in time, ``BleakDBusError`` for ATT and
transport failures; ``disconnected_callback`` runs on every disconnection (link loss *and*
``disconnect()``), after which ``is_connected`` is False and ``services`` is None. The ATT MTU
is negotiated to :data:`ATT_MTU` on connect; the GAP and GATT services are hidden, as BlueZ does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDBusError, BleakError
from bleak.uuids import normalize_uuid_str
from bumble import core
from bumble.att import ATT_Error
from bumble.device import Connection, Peer
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy

from .faults import FaultPoint, bluez_att_error, bluez_not_connected, device_not_found
from .hub import BumbleDeviceDetails, BumbleHub

logger = logging.getLogger(__name__)

ATT_MTU = 247
"""ATT MTU requested on every connect (bytes): one 19-sample dorsi packet per notification."""
DEFAULT_ATT_MTU = 23
"""ATT MTU before the exchange (bytes)."""
HIDDEN_SERVICES = frozenset(normalize_uuid_str(u) for u in ("1800", "1801"))
"""Generic Access and Generic Attribute: BlueZ handles them itself and does not export them."""


class BumbleClient(BaseBleakClient):
    """A GATT client on the bound hub's central (see the module docstring for semantics)."""

    hub: ClassVar[BumbleHub | None] = None
    """Set on the subclasses :func:`make_backends` creates."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        services: set[str] | None = None,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._name: str | None = None
        hub = self.hub
        if isinstance(address_or_ble_device, BLEDevice):
            self._name = address_or_ble_device.name
            details = address_or_ble_device.details
            if hub is None and isinstance(details, BumbleDeviceDetails):
                hub = details.hub
        if hub is None:
            raise BleakError("BumbleClient is unbound: use make_backends(hub).client")
        self._bound_hub: BumbleHub = hub
        self._requested_services = (
            None if services is None else {normalize_uuid_str(u) for u in services}
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._mtu = DEFAULT_ATT_MTU
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # --- identity and state -----------------------------------------------------------------

    @property
    def name(self) -> str:
        """Advertised name if the device came from a scan, else its address (like BlueZ)."""
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        """Negotiated ATT MTU (bytes); 23 before the exchange."""
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # --- connection -------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange the ATT MTU and discover every service.

        Accepts (and ignores) BlueZ's ``dangerous_use_bleak_cache``: there is no cache.
        """
        if self.is_connected:
            raise BleakError("Client is already connected")
        if pair:
            logger.info("%s: pairing is not emulated; connecting without it", self.address)
        timeout = float(kwargs.get("timeout", self._timeout))
        hub = self._bound_hub
        if (error := hub.faults.take(FaultPoint.CONNECT, self.address)) is not None:
            raise error
        if not hub.has_seen(self.address) and not await hub.find(self.address, timeout):
            raise device_not_found(self.address)
        try:  # the hub cancels an unanswered connect itself
            connection = await hub.connect(self.address, timeout)
        except (TimeoutError, core.TimeoutError) as exc:
            raise TimeoutError(f"connecting to {self.address} timed out") from exc
        except core.BaseBumbleError as exc:
            raise BleakDBusError("org.bluez.Error.Failed", [f"connect failed: {exc!r}"]) from exc
        async with asyncio.timeout(timeout):
            try:
                self._connection = connection
                connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
                peer = Peer(connection)
                async with self._gatt_errors():
                    self._mtu = await peer.request_mtu(ATT_MTU)
                    if (error := hub.faults.take(FaultPoint.SERVICES, self.address)) is not None:
                        raise error
                    await peer.discover_all()  # type: ignore[no-untyped-call]
                self._peer = peer
                self.services = self._collect(peer.services)
            except BaseException:
                self._forget(connection)
                with contextlib.suppress(Exception):
                    await connection.disconnect()
                raise
        logger.debug("%s: connected, ATT MTU %d", self.address, self._mtu)

    async def disconnect(self) -> None:
        """Disconnect; the disconnected callback runs (as with BlueZ). No-op when not connected."""
        connection = self._connection
        if connection is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_disconnection(*_args: object) -> None:
            if not done.done():
                done.set_result(None)

        connection.once(connection.EVENT_DISCONNECTION, on_disconnection)
        try:
            await connection.disconnect()
            async with asyncio.timeout(self._timeout):
                await done
        except Exception as exc:  # already gone: the event has fired or never will
            logger.debug("%s: disconnect: %s", self.address, exc)
            self._on_disconnection(0)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("pairing is not supported by the bumble backend")

    async def unpair(self) -> None:
        raise BleakError("pairing is not supported by the bumble backend")

    def _on_disconnection(self, reason: int = 0) -> None:
        connection = self._connection
        if connection is None:
            return
        logger.info("%s: disconnected (reason 0x%02x)", self.address, reason)
        self._forget(connection)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    def _forget(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            connection.remove_listener(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        self.services = None

    # --- GATT -------------------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        self._raise_fault(FaultPoint.READ)
        async with self._gatt_errors():
            return bytearray(await peer.read_value(characteristic.handle))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        self._raise_fault(FaultPoint.READ)
        async with self._gatt_errors():
            return bytearray(await peer.read_value(descriptor.handle))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        self._raise_fault(FaultPoint.WRITE)
        async with self._gatt_errors():
            await peer.write_value(characteristic.handle, bytes(data), with_response=response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        self._raise_fault(FaultPoint.WRITE)
        async with self._gatt_errors():
            await peer.write_value(descriptor.handle, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Enable notifications (preferred) or indications; ``callback`` gets a bytearray."""
        peer = self._require_peer()
        self._raise_fault(FaultPoint.START_NOTIFY)
        proxy = characteristic.obj
        if not isinstance(proxy, CharacteristicProxy) or not (
            proxy.properties
            & (Characteristic.Properties.NOTIFY | Characteristic.Properties.INDICATE)
        ):
            raise BleakDBusError("org.bluez.Error.NotSupported", ["Operation is not supported"])
        if characteristic.handle in self._subscribers:
            raise BleakDBusError("org.bluez.Error.InProgress", ["Notify already in progress"])

        def subscriber(value: bytes) -> None:
            try:
                callback(bytearray(value))
            except Exception:  # a failing callback must not break bumble's ATT handling
                logger.exception("%s: notification callback failed", self.address)

        self._subscribers[characteristic.handle] = subscriber
        try:
            async with self._gatt_errors():
                await peer.subscribe(proxy, subscriber, prefer_notify=True)
        except BaseException:
            self._subscribers.pop(characteristic.handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        self._raise_fault(FaultPoint.STOP_NOTIFY)
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if subscriber is None:
            return
        async with self._gatt_errors():
            await peer.unsubscribe(characteristic.obj, subscriber)

    # --- helpers ----------------------------------------------------------------------------

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    def _raise_fault(self, point: FaultPoint) -> None:
        if (error := self._bound_hub.faults.take(point, self.address)) is not None:
            raise error

    @contextlib.asynccontextmanager
    async def _gatt_errors(self) -> AsyncIterator[None]:
        """Turn bumble's GATT failures into what bleak's BlueZ backend raises."""
        try:
            yield
        except ATT_Error as exc:
            raise bluez_att_error(int(exc.error_code)) from exc
        except core.TimeoutError as exc:
            raise TimeoutError(str(exc)) from exc
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # a real cancellation of the caller
            # bumble cancels the pending ATT request when the link drops
            raise bluez_not_connected() from exc
        except core.BaseBumbleError as exc:
            if not self.is_connected:
                raise bluez_not_connected() from exc
            raise BleakDBusError("org.bluez.Error.Failed", [str(exc)]) from exc

    def _collect(self, services: list[ServiceProxy]) -> BleakGATTServiceCollection:
        """bleak's service collection from bumble's discovered proxies."""
        hidden = HIDDEN_SERVICES | self._bound_hub.faults.take_stale_services(self.address)
        collection = BleakGATTServiceCollection()
        for service in services:
            uuid = _uuid(service.uuid)
            wanted = self._requested_services is None or uuid in self._requested_services
            if uuid in hidden or not wanted:
                continue
            bleak_service = BleakGATTService(service, service.handle, uuid)
            collection.add_service(bleak_service)
            for char in service.characteristics:
                bleak_char = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    _uuid(char.uuid),
                    _properties(int(char.properties)),
                    lambda: self._mtu - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in char.descriptors:
                    assert isinstance(descriptor, DescriptorProxy)
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, _uuid(descriptor.type), bleak_char
                        )
                    )
        return collection


def _uuid(uuid: core.UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-"))


def _properties(bits: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if bits & bit]
