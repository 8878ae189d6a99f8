"""Import a strides CSV through the same validation and idempotent write path as MQTT ingest.

The CSV has a header row with the stride field names of docs/mqtt.md (``ic_t``, ``to_t``,
``next_ic_t`` as RFC 3339 UTC text, then the metrics); an empty cell is ``null``; other columns are
ignored. The output of ``dorsi-signal analyze`` has the same columns with event times in seconds
since the start of the recording: give ``start`` (the recording's first sample in UTC) to import it.
Rows are grouped into ``dorsi.strides/1`` messages of up to 500 strides and each message
goes through :func:`dorsi.server.validate.read_message`, so a row that MQTT ingest would
dead-letter is refused here with the same reason (naming its CSV line).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dorsi.server.rollups import RollupMaintainer
from dorsi.server.schema import MAX_STRIDES, format_utc
from dorsi.server.store import STRIDE_INT_FIELDS, Store, StrideRecord
from dorsi.server.synthetic import strides_payload
from dorsi.server.validate import Rejected, StridesIn, read_message

_TEXT = frozenset({"ic_t", "to_t", "next_ic_t"})
_INDEX = re.compile(r"^strides\[(\d+)\]")


@dataclass
class ImportResult:
    """How many strides were stored and which CSV lines were refused (with reasons)."""

    stored: int = 0
    refused: list[str] = field(default_factory=list)


def _cell(name: str, text: str, start: datetime | None = None) -> Any:
    if text == "":
        return None
    if name in _TEXT:
        if start is not None:
            try:
                return format_utc(start + timedelta(seconds=float(text)))
            except (ValueError, OverflowError):
                return text  # validation names the field and the bad value
        return text
    try:
        return int(text) if name in STRIDE_INT_FIELDS else float(text)
    except ValueError:
        return text  # validation names the field and the bad value


def _chunks(
    path: Path, start: datetime | None = None
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "ic_t" not in reader.fieldnames:
            raise ValueError(f"{path}: the header row must name the stride fields (ic_t, ...)")
        chunk: list[dict[str, Any]] = []
        first_line = 2
        for row in reader:
            chunk.append({k: _cell(k, v or "", start) for k, v in row.items() if k is not None})
            if len(chunk) == MAX_STRIDES:
                yield first_line, chunk
                first_line += len(chunk)
                chunk = []
        if chunk:
            yield first_line, chunk


def import_csv(
    path: Path,
    store: Store,
    *,
    patient: str,
    device: str,
    side: str,
    gateway: str = "csv-import",
    algorithm: str = "dorsi-signal analyze",
    start: datetime | None = None,
) -> ImportResult:
    """Validate and store every row of ``path``; rollups of the touched days are refreshed.

    ``start``: UTC of time 0 when the event times are seconds (``dorsi-signal analyze`` output).
    """
    if start is not None and start.tzinfo is None:
        raise ValueError("start must be a UTC time (timezone-aware)")
    result = ImportResult()
    rollups = RollupMaintainer(store)
    topic = f"dorsi/v1/{patient}/{device}/strides"
    for first_line, chunk in _chunks(path, start):
        payload = strides_payload(
            patient, device, side, chunk, gateway=gateway, algorithm=algorithm
        )
        message = read_message(topic, payload)
        if isinstance(message, Rejected):
            raise ValueError(f"{path}: {message.reason}")
        if not isinstance(message, StridesIn):
            raise ValueError(f"{path}: not a strides file")
        records = [
            StrideRecord(patient, device, side, gateway, algorithm, s) for s in message.strides
        ]
        if records:
            store.write_strides(records)
            rollups.mark_strides(records)
        result.stored += len(records)
        for bad in message.rejected:
            match = _INDEX.match(bad.reason)
            line = first_line + int(match.group(1)) if match else first_line
            result.refused.append(f"line {line}: {bad.reason}")
    rollups.refresh()
    return result
