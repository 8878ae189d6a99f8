"""In-process BLE radio: bumble hosts talking through a ``LocalLink``, no hardware needed.

Each attached host gets its own bumble ``Controller`` on the shared link. The link routes by the
*random* device address, so every device here uses a random static address and advertises,
scans and connects with ``OwnAddressType.RANDOM`` (bumble's default). bumble emulates no
supervision timeout, so :meth:`VirtualRadio.drop` ends a connection on both sides at once, as a
real link loss would after the timeout.

A bleak backend (gateway tests) attaches its own bumble host with :meth:`VirtualRadio.add_device`
and drives it like any central; the virtual sensor does not care who connects.
"""

from __future__ import annotations

import random

from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address, HCI_ErrorCode
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

LINK_LOSS_REASON = int(HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
"""HCI reason reported to both hosts by :meth:`VirtualRadio.drop` (0x08, supervision timeout)."""


def random_static_address(rng: random.Random | None = None) -> str:
    """Return a random static BLE address ``"C3:…"`` (two top bits set), as bumble expects.

    Pass a seeded ``rng`` for reproducible addresses (and so reproducible ``dorsi-XXXX`` names).
    """
    rng = rng or random.Random()
    octets = [rng.randrange(256) for _ in range(6)]
    octets[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in octets)


class VirtualRadio:
    """The shared air of an in-process BLE world: one bumble ``LocalLink``, many hosts.

    Create it (and add devices) inside a running asyncio loop: bumble's pipes bind to it.
    """

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self._controllers: dict[str, Controller] = {}
        self._rng = random.Random()

    def add_device(self, name: str, address: str | None = None) -> Device:
        """Attach a new bumble host + controller named ``name``; return its (powered-off) Device.

        ``address`` is a random static address ``"XX:XX:XX:XX:XX:XX"`` (generated when None).
        Raises ValueError for a malformed, non-static or already used address.
        """
        address = address or random_static_address(self._rng)
        try:
            parsed = Address(address, Address.RANDOM_DEVICE_ADDRESS)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"malformed BLE address {address!r}: {exc}") from exc
        if not parsed.is_static:
            raise ValueError(f"{address!r} is not a random static address (top bits must be 11)")
        key = str(parsed).upper()
        if key in self._controllers:
            raise ValueError(f"address {address} is already used on this radio")
        controller = Controller(name, link=self.link)
        host = Host(controller, AsyncPipeSink(controller))
        device = Device(name=name, address=parsed, host=host)
        self._controllers[key] = controller
        return device

    def remove_device(self, device: Device) -> None:
        """Take a device's controller off the air (its connections are dropped first)."""
        self.drop(device)
        controller = self._controllers.pop(_key(device), None)
        if controller is not None:
            self.link.remove_controller(controller)

    def connection_count(self, device: Device) -> int:
        """Number of LE connections the device's controller currently holds."""
        controller = self._controllers.get(_key(device))
        return 0 if controller is None else len(controller.le_connections)

    def drop(self, device: Device, reason: int = LINK_LOSS_REASON) -> int:
        """Simulate link loss: end every LE connection of ``device``, on both sides, now.

        Both hosts receive a Disconnection Complete event with ``reason``; nothing is sent over
        the air. Returns the number of connection ends closed (2 per connection).
        """
        address = _key(device)
        closed = 0
        for controller in list(self.link.controllers):
            for connection in list(controller.le_connections.values()):
                ends = {str(connection.self_address).upper(), str(connection.peer_address).upper()}
                if address in ends:
                    controller.on_le_disconnected(connection, reason)
                    closed += 1
        return closed


def _key(device: Device) -> str:
    """Registry key of a device: its random address, upper-case, without the type suffix."""
    return str(Address(str(device.random_address), Address.RANDOM_DEVICE_ADDRESS)).upper()
