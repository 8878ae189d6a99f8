"""MQTT topic layout, schema v1 (docs/mqtt.md): ``dorsi/v1/<patient>/<device>/<kind>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

TOPIC_ROOT = "dorsi/v1"
DEADLETTER_TOPIC = f"{TOPIC_ROOT}/deadletter"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Kind(StrEnum):
    """The last topic level: what a message carries."""

    STRIDES = "strides"
    ACTIVITY = "activity"
    BATTERY = "battery"
    STATUS = "status"


def check_id(value: str, what: str) -> str:
    """Return ``value`` if it is a valid patient/device id, else raise ``ValueError`` saying why."""
    if not _ID.fullmatch(value):
        raise ValueError(
            f"{what} id {value!r} is not valid: use 1-64 letters, digits, '_' or '-' "
            "(no spaces, '/', '+' or '#')"
        )
    return value


@dataclass(frozen=True)
class DeviceTopics:
    """The topics one sensor of one patient publishes to."""

    patient: str
    device: str

    def __post_init__(self) -> None:
        check_id(self.patient, "patient")
        check_id(self.device, "device")

    def topic(self, kind: Kind) -> str:
        return f"{TOPIC_ROOT}/{self.patient}/{self.device}/{kind.value}"

    @property
    def strides(self) -> str:
        return self.topic(Kind.STRIDES)

    @property
    def activity(self) -> str:
        return self.topic(Kind.ACTIVITY)

    @property
    def battery(self) -> str:
        return self.topic(Kind.BATTERY)

    @property
    def status(self) -> str:
        return self.topic(Kind.STATUS)
