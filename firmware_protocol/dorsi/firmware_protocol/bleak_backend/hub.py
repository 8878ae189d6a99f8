"""The gateway's "Bluetooth adapter" in tests: one bumble central host on the virtual radio.

A :class:`BumbleHub` attaches its own bumble ``Device`` (own ``Controller``, random static
address, ``OwnAddressType.RANDOM``) to the same in-process ``VirtualRadio`` as the virtual
sensors. Every bleak scanner and client built from :meth:`BumbleHub.backends` shares it, the
way every ``BleakScanner``/``BleakClient`` on a Raspberry Pi shares ``hci0``: one scan fanned
out to all scanners, one connect at a time, many connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device
from bumble.hci import Address, OwnAddressType

from dorsi.firmware_protocol.virtual.link import VirtualRadio

from .faults import FaultInjector

if TYPE_CHECKING:
    from . import BumbleBackends

logger = logging.getLogger(__name__)

AdvertisementListener = Callable[[Advertisement, int], None]
"""Called with each (merged adv + scan response) advertisement and its RSSI (dBm)."""


@dataclass(frozen=True)
class BumbleDeviceDetails:
    """``BLEDevice.details`` of a device seen through the bumble backend (not a dict, so code
    written for BlueZ's ``{"path": …}`` details leaves it alone)."""

    address: str
    """Random static address, upper-case ``"C3:…"``."""
    hub: BumbleHub


class BumbleHub:
    """A bumble central on ``radio`` that bleak backends use as their adapter.

    Create and :meth:`start` it inside the running loop (bumble binds to it); :meth:`close`
    (or ``async with``) takes it off the air. ``faults`` queues BlueZ-style failures.
    """

    def __init__(
        self,
        radio: VirtualRadio,
        *,
        name: str = "dorsi-gateway",
        address: str | None = None,
    ) -> None:
        self.radio = radio
        self.device: Device = radio.add_device(name, address)
        self.address = str(self.device.random_address).upper()
        self._controller: Controller | None = None
        self.faults = FaultInjector()
        self._listeners: dict[int, AdvertisementListener] = {}
        self._tokens = itertools.count(1)
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._rssi_override: dict[str, int] = {}
        self._seen: dict[str, Advertisement] = {}
        self._started = False
        self._closed = False
        self.device.on(self.device.EVENT_ADVERTISEMENT, self._on_advertisement)
        from . import make_backends

        self.backends: BumbleBackends = make_backends(self)
        """Backend classes for ``BleakScanner(backend=…)`` and ``BleakClient(backend=…)``."""

    async def start(self) -> None:
        """Power the central on (idempotent)."""
        if not self._started:
            await self.device.power_on()
            self._started = True
            # our controller on the link (its random address is set by power-on)
            self._controller = next(
                (
                    c
                    for c in self.radio.link.controllers
                    if _address_key(c.random_address) == self.address
                ),
                None,
            )
            if self._controller is None:
                raise RuntimeError(f"no controller with address {self.address} on the radio")

    async def close(self) -> None:
        """Stop scanning, drop every link of the central and take it off the radio."""
        if self._closed:
            return
        self._closed = True
        self._listeners.clear()
        if self.device.is_scanning:
            with contextlib.suppress(Exception):
                await self.device.stop_scanning()
        self.radio.remove_device(self.device)

    async def __aenter__(self) -> BumbleHub:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- radio conditions for tests ---------------------------------------------------------

    def set_rssi(self, address: str, rssi_dbm: int | None) -> None:
        """Report ``rssi_dbm`` for ``address`` in scans (None: bumble's fixed −50 dBm)."""
        if rssi_dbm is None:
            self._rssi_override.pop(address.upper(), None)
        elif not -127 <= rssi_dbm <= 20:
            raise ValueError(f"RSSI must be -127..20 dBm, got {rssi_dbm}")
        else:
            self._rssi_override[address.upper()] = rssi_dbm

    def has_seen(self, address: str) -> bool:
        """True if a scan of this hub has received an advertisement from ``address``."""
        return address.upper() in self._seen

    @property
    def connections(self) -> int:
        """Number of LE links the central holds now."""
        return len(self.device.connections)

    # --- scanning ---------------------------------------------------------------------------

    async def add_scan_listener(self, listener: AdvertisementListener) -> int:
        """Start (or join) the active scan; ``listener`` gets every advertisement. Returns a
        token for :meth:`remove_scan_listener`."""
        await self._require_started()
        token = next(self._tokens)
        async with self._scan_lock:
            self._listeners[token] = listener
            if not self.device.is_scanning:
                await self.device.start_scanning(active=True, filter_duplicates=False)
        return token

    async def remove_scan_listener(self, token: int) -> None:
        """Leave the scan; it stops when the last listener has left."""
        async with self._scan_lock:
            self._listeners.pop(token, None)
            if not self._listeners and self.device.is_scanning and not self._closed:
                await self.device.stop_scanning()

    async def find(self, address: str, timeout_s: float) -> bool:
        """Scan up to ``timeout_s`` for ``address``; True if it advertised."""
        key = address.upper()
        found = asyncio.get_running_loop().create_future()

        def listener(advertisement: Advertisement, _rssi: int) -> None:
            if _address_key(advertisement.address) == key and not found.done():
                found.set_result(True)

        token = await self.add_scan_listener(listener)
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await found)
        except TimeoutError:
            return False
        finally:
            await self.remove_scan_listener(token)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        key = _address_key(advertisement.address)
        self._seen[key] = advertisement
        rssi = self._rssi_override.get(key, int(advertisement.rssi))
        for listener in list(self._listeners.values()):
            try:
                listener(advertisement, rssi)
            except Exception:  # a broken scanner callback must not stop the others
                logger.exception("scan listener failed")

    # --- connections ------------------------------------------------------------------------

    async def connect(self, address: str, timeout_s: float) -> Connection:
        """Open an LE link to ``address`` (one connect at a time, like a real controller).

        Raises ``TimeoutError`` when ``address`` does not answer (is not advertising) within
        ``timeout_s``, and bumble's errors otherwise; the client turns them into bleak's.
        """
        await self._require_started()
        async with self._connect_lock:
            try:
                async with asyncio.timeout(timeout_s):
                    connection: Connection = await self.device.connect(
                        Address(address.upper(), Address.RANDOM_DEVICE_ADDRESS),
                        own_address_type=OwnAddressType.RANDOM,
                        timeout=None,
                    )
            except BaseException:
                self._cancel_pending_connect()
                raise
            return connection

    def _cancel_pending_connect(self) -> None:
        """Forget an unanswered Create Connection in our controller.

        bumble's emulated controller ignores LE Create Connection Cancel: the request would stay
        pending, refuse every later connect (COMMAND_DISALLOWED) and complete by itself as soon
        as the peer advertises again. A real controller drops it on cancel.
        """
        if self._controller is not None:
            self._controller.pending_le_connection = None

    async def _require_started(self) -> None:
        if self._closed:
            from bleak.exc import BleakError

            raise BleakError("the bumble hub is closed (Bluetooth adapter gone)")
        await self.start()


def _address_key(address: Address) -> str:
    """``"C3:…"`` upper-case, without bumble's type suffix."""
    return str(address).split("/", 1)[0].upper()
