"""BlueZ-style failures for tests: canned bleak errors and a one-shot fault injector.

On a Raspberry Pi the gateway meets BlueZ's transient errors (``org.bluez.Error.InProgress``,
``le-connection-abort-by-local``, a stale GATT cache after a firmware update, …) and must
survive them. The bumble backend never produces them by itself, so tests queue them here:
``hub.faults.fail_next(FaultPoint.CONNECT, bluez_in_progress())`` makes the next
``BleakClient.connect()`` raise exactly what bleak's BlueZ backend would raise.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bleak.exc import BleakDBusError, BleakDeviceNotFoundError

from dorsi.firmware_protocol.constants import SERVICE_UUID


class FaultPoint(enum.StrEnum):
    """Where an injected failure is raised (the bleak client operation that fails)."""

    CONNECT = "connect"
    """``connect()`` raises before any link is made (e.g. InProgress, abort-by-local)."""
    SERVICES = "services"
    """``connect()`` raises during service discovery; the fresh link is torn down first."""
    READ = "read"
    WRITE = "write"
    START_NOTIFY = "start_notify"
    STOP_NOTIFY = "stop_notify"


ErrorFactory = Callable[[], BaseException]


def bluez_in_progress() -> BleakDBusError:
    """``org.bluez.Error.InProgress``: another connect/discovery to the device is running."""
    return BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"])


def bluez_abort_by_local() -> BleakDBusError:
    """``le-connection-abort-by-local``: the controller gave up the connect (interference)."""
    return BleakDBusError("org.bluez.Error.Failed", ["le-connection-abort-by-local"])


def bluez_not_connected() -> BleakDBusError:
    """``org.bluez.Error.NotConnected``: the link vanished under a GATT operation."""
    return BleakDBusError("org.bluez.Error.NotConnected", ["Not Connected"])


def bluez_unknown_object(address: str = "00:00:00:00:00:00") -> BleakDBusError:
    """``org.freedesktop.DBus.Error.UnknownObject``: BlueZ forgot the device (scan ended)."""
    path = "/org/bluez/hci0/dev_" + address.upper().replace(":", "_")
    return BleakDBusError(
        "org.freedesktop.DBus.Error.UnknownObject",
        [f'Method "Connect" with signature "" on interface "org.bluez.Device1" at {path}'],
    )


def bluez_att_error(code: int) -> BleakDBusError:
    """An ATT error response as BlueZ reports it (``code`` 0x01..0xFF, e.g. 0x0E unlikely)."""
    if not 0 < code <= 0xFF:
        raise ValueError(f"ATT error code must be 0x01..0xFF, got {code:#x}")
    return BleakDBusError(
        "org.bluez.Error.Failed", [f"Operation failed with ATT error: 0x{code:02x}"]
    )


def device_not_found(address: str) -> BleakDeviceNotFoundError:
    """What bleak raises when the OS has no record of ``address``."""
    return BleakDeviceNotFoundError(address, f"Device with address {address} was not found.")


@dataclass
class _Fault:
    point: FaultPoint
    make_error: ErrorFactory | None
    remaining: int
    address: str | None
    missing_services: frozenset[str] = frozenset()


@dataclass
class FaultInjector:
    """Queue of failures the bumble backend raises at the next matching operations.

    Faults fire in the order they were queued, each ``times`` times, for any device or only for
    ``address``. ``raised`` counts every fault that fired, per point.
    """

    _faults: list[_Fault] = field(default_factory=list)
    raised: dict[FaultPoint, int] = field(default_factory=dict)

    def fail_next(
        self,
        point: FaultPoint,
        error: BaseException | ErrorFactory,
        *,
        times: int = 1,
        address: str | None = None,
    ) -> None:
        """Make the next ``times`` operations at ``point`` raise ``error``.

        ``error`` is an exception instance (re-raised as is each time) or a zero-argument
        factory (a fresh exception each time, e.g. :func:`bluez_in_progress`).
        """
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        factory = error if callable(error) else _constant(error)
        self._faults.append(_Fault(point, factory, times, _norm(address)))

    def stale_services_next(
        self,
        *,
        missing: Iterable[str] = (SERVICE_UUID,),
        times: int = 1,
        address: str | None = None,
    ) -> None:
        """Make the next ``times`` connects expose a stale GATT cache without ``missing``.

        Mirrors BlueZ after a firmware update: ``connect()`` succeeds but ``client.services``
        lacks the given service UUIDs, so resolving their characteristics raises bleak's
        ``BleakCharacteristicNotFoundError``. A later connect discovers the real database.
        """
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        uuids = frozenset(u.lower() for u in missing)
        self._faults.append(
            _Fault(FaultPoint.SERVICES, None, times, _norm(address), missing_services=uuids)
        )

    def pending(self, point: FaultPoint | None = None) -> int:
        """Number of failures still queued (at ``point``, or in total)."""
        return sum(f.remaining for f in self._faults if point is None or f.point == point)

    def clear(self) -> None:
        """Forget every queued failure."""
        self._faults.clear()

    def take(self, point: FaultPoint, address: str) -> BaseException | None:
        """Consume and return the next error queued for ``point``/``address`` (None if none).

        A stale-services fault is not an error: see :meth:`take_stale_services`.
        """
        fault = self._next(point, address, stale=False)
        return None if fault is None or fault.make_error is None else fault.make_error()

    def take_stale_services(self, address: str) -> frozenset[str]:
        """Consume a queued stale-cache fault for ``address``; the service UUIDs to hide."""
        fault = self._next(FaultPoint.SERVICES, address, stale=True)
        return frozenset() if fault is None else fault.missing_services

    def _next(self, point: FaultPoint, address: str, *, stale: bool) -> _Fault | None:
        key = _norm(address)
        for fault in self._faults:
            if fault.point != point or (fault.make_error is None) != stale:
                continue
            if fault.address is not None and fault.address != key:
                continue
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.remove(fault)
            self.raised[point] = self.raised.get(point, 0) + 1
            return fault
        return None


def _constant(error: BaseException) -> ErrorFactory:
    return lambda: error


def _norm(address: str | None) -> str | None:
    return None if address is None else address.upper()


__all__ = [
    "ErrorFactory",
    "FaultInjector",
    "FaultPoint",
    "bluez_abort_by_local",
    "bluez_att_error",
    "bluez_in_progress",
    "bluez_not_connected",
    "bluez_unknown_object",
    "device_not_found",
]
