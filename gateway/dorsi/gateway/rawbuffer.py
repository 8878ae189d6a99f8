"""A local rolling buffer of the raw sensor packets, for re-analysis (never uploaded).

Packets are appended as received to one file per device and UTC hour
(``<dir>/<device>/YYYYMMDDTHH.dorsiraw``), each record ``u32 length, u64 receive UTC µs, bytes``
(little-endian). Files older than the configured number of hours are deleted. At 208 Hz that
is about 10 MB per hour per sensor. ``read_raw`` gives the packets back for
``dorsi-signal``-style re-analysis with the protocol codec.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

SUFFIX = ".dorsiraw"
_RECORD = struct.Struct("<IQ")
_NAME_FORMAT = "%Y%m%dT%H"


class RawBuffer:
    """Hourly files of raw packets for one device, pruned to the last ``hours``."""

    def __init__(
        self,
        directory: Path,
        device: str,
        *,
        hours: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if hours < 0:
            raise ValueError(f"raw buffer hours must be >= 0, got {hours}")
        self.directory = Path(directory) / device
        self.hours = hours
        self.wall_clock = wall_clock
        self._file: BinaryIO | None = None
        self._hour: str | None = None
        self.failed = False

    @property
    def enabled(self) -> bool:
        return self.hours > 0

    def append(self, data: bytes) -> None:
        """Store one packet (never raises: a full disk must not stop the gateway)."""
        if not self.enabled or self.failed:
            return
        now = self.wall_clock()
        hour = datetime.fromtimestamp(now, tz=UTC).strftime(_NAME_FORMAT)
        try:
            if hour != self._hour:
                self._rotate(hour, now)
            assert self._file is not None
            self._file.write(_RECORD.pack(len(data), round(now * 1e6)) + data)
        except OSError as exc:
            self.failed = True
            log.error("raw buffer disabled: cannot write %s: %s", self.directory, exc)

    def _rotate(self, hour: str, now: float) -> None:
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file = (self.directory / f"{hour}{SUFFIX}").open("ab", buffering=64 * 1024)
        self._hour = hour
        cutoff = datetime.fromtimestamp(now, tz=UTC) - timedelta(hours=self.hours + 1)
        for path in self.directory.glob(f"*{SUFFIX}"):
            try:
                started = datetime.strptime(path.stem, _NAME_FORMAT).replace(tzinfo=UTC)
            except ValueError:
                continue
            if started < cutoff:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._hour = None

    def files(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{SUFFIX}"))


def read_raw(path: Path) -> Iterator[tuple[float, bytes]]:
    """(receive UTC s, packet bytes) of every complete record in a raw buffer file."""
    with path.open("rb") as handle:
        while True:
            head = handle.read(_RECORD.size)
            if len(head) < _RECORD.size:
                return
            length, utc_us = _RECORD.unpack(head)
            data = handle.read(length)
            if len(data) < length:
                return  # a record cut short by a crash
            yield utc_us / 1e6, data
