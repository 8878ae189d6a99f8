"""A bleak backend on bumble's host stack, for testing the gateway without Bluetooth hardware.

The gateway's real bleak code runs unchanged against virtual sensors on the in-process
``VirtualRadio``; only the backend classes are injected (bleak's public ``backend=``)::

    radio = VirtualRadio()
    async with running_sensor(source, radio=radio) as (_, sensor), BumbleHub(radio) as hub:
        scanner, client_cls = hub.backends
        found = await BleakScanner.discover(2.0, service_uuids=[SERVICE_UUID], backend=scanner)
        async with BleakClient(found[0], backend=client_cls) as client:
            status = decode_status(await client.read_gatt_char(STATUS_CHAR_UUID))

Needs the ``sensor`` extra (bumble) plus bleak. See ``docs/ble_testing.md``.
"""

from __future__ import annotations

from typing import NamedTuple

from .client import ATT_MTU, BumbleClient
from .faults import (
    FaultInjector,
    FaultPoint,
    bluez_abort_by_local,
    bluez_att_error,
    bluez_in_progress,
    bluez_not_connected,
    bluez_unknown_object,
    device_not_found,
)
from .hub import BumbleDeviceDetails, BumbleHub
from .scanner import BumbleScanner


class BumbleBackends(NamedTuple):
    """The two classes to pass as ``backend=`` to ``BleakScanner`` and ``BleakClient``."""

    scanner: type[BumbleScanner]
    client: type[BumbleClient]


def make_backends(hub: BumbleHub) -> BumbleBackends:
    """Scanner and client backend classes bound to ``hub`` (bleak instantiates them itself,
    so the hub travels as a class attribute). ``BumbleHub.backends`` holds the pair."""

    class Scanner(BumbleScanner):
        pass

    class Client(BumbleClient):
        pass

    Scanner.hub = hub
    Client.hub = hub
    for cls, name in ((Scanner, "BumbleScanner"), (Client, "BumbleClient")):
        cls.__name__ = cls.__qualname__ = name  # bleak reports it as backend_id
    return BumbleBackends(Scanner, Client)


__all__ = [
    "ATT_MTU",
    "BumbleBackends",
    "BumbleClient",
    "BumbleDeviceDetails",
    "BumbleHub",
    "BumbleScanner",
    "FaultInjector",
    "FaultPoint",
    "bluez_abort_by_local",
    "bluez_att_error",
    "bluez_in_progress",
    "bluez_not_connected",
    "bluez_unknown_object",
    "device_not_found",
    "make_backends",
]
