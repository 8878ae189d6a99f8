"""bleak ``BaseBleakScanner`` on a :class:`~.hub.BumbleHub`: advertisements → ``BLEDevice``.

Use the class made by :func:`dorsi.firmware_protocol.bleak_backend.make_backends` (it is bound
to a hub); bleak instantiates it for ``BleakScanner(..., backend=cls)``.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement

from .hub import BumbleDeviceDetails, BumbleHub, _address_key

_T = AdvertisingData.Type
_UUID_LISTS = {
    _T.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    _T.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    _T.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    _T.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS: 4,
    _T.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    _T.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}
_SERVICE_DATA = {
    _T.SERVICE_DATA_16_BIT_UUID: 2,
    _T.SERVICE_DATA_32_BIT_UUID: 4,
    _T.SERVICE_DATA_128_BIT_UUID: 16,
}


def _uuid_str(raw: bytes) -> str:
    """Little-endian UUID bytes (2, 4 or 16) → bleak's lower-case 128-bit string."""
    return normalize_uuid_str(UUID.from_bytes(raw).to_hex_str("-"))


def advertisement_data(advertisement: Advertisement, rssi_dbm: int) -> AdvertisementData:
    """bleak's ``AdvertisementData`` from a bumble advertisement (adv + scan response)."""
    local_name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, value in advertisement.data.ad_structures:
        if ad_type == _T.COMPLETE_LOCAL_NAME or (
            ad_type == _T.SHORTENED_LOCAL_NAME and local_name is None
        ):
            local_name = value.decode("utf-8", errors="replace")
        elif ad_type in _UUID_LISTS:
            size = _UUID_LISTS[ad_type]
            for i in range(0, len(value) - size + 1, size):
                if (uuid := _uuid_str(value[i : i + size])) not in uuids:
                    uuids.append(uuid)
        elif ad_type in _SERVICE_DATA and len(value) >= _SERVICE_DATA[ad_type]:
            size = _SERVICE_DATA[ad_type]
            service_data[_uuid_str(value[:size])] = bytes(value[size:])
        elif ad_type == _T.MANUFACTURER_SPECIFIC_DATA and len(value) >= 2:
            manufacturer[struct.unpack_from("<H", value)[0]] = bytes(value[2:])
        elif ad_type == _T.TX_POWER_LEVEL and len(value) == 1:
            tx_power = struct.unpack("b", value)[0]
    return AdvertisementData(
        local_name=local_name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=tx_power,
        rssi=rssi_dbm,
        platform_data=(advertisement,),
    )


class BumbleScanner(BaseBleakScanner):
    """Scans through the bound hub (always active, duplicates reported, like BlueZ)."""

    hub: ClassVar[BumbleHub | None] = None
    """Set on the subclasses :func:`make_backends` creates."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        if scanning_mode not in ("active", "passive"):
            raise BleakError(f"invalid scanning mode {scanning_mode!r}")
        if self.hub is None:
            raise BleakError("BumbleScanner is unbound: use make_backends(hub).scanner")
        self._bound_hub: BumbleHub = self.hub
        self._token: int | None = None

    async def start(self) -> None:
        """Start scanning; ``seen_devices`` starts empty."""
        if self._token is not None:
            raise BleakError("Scanner already started")
        self.seen_devices = {}
        self._token = await self._bound_hub.add_scan_listener(self._on_advertisement)

    async def stop(self) -> None:
        """Stop scanning (the hub's scan goes on while other scanners run)."""
        token, self._token = self._token, None
        if token is not None:
            await self._bound_hub.remove_scan_listener(token)

    def _on_advertisement(self, advertisement: Advertisement, rssi_dbm: int) -> None:
        data = advertisement_data(advertisement, rssi_dbm)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = _address_key(advertisement.address)
        previous = self.seen_devices.get(address)
        name = data.local_name or (previous[0].name if previous is not None else None)
        details = BumbleDeviceDetails(address=address, hub=self._bound_hub)
        device = self.create_or_update_device(address, address, name, details, data)
        self.call_detection_callbacks(device, data)
