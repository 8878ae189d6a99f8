"""SI samples → int16 counts at the sensor's full-scale ranges, as the IMU's ADC would do.

counts = round(value × 32768 / full_scale), saturated to [−32768, 32767]; a saturated count is
what sets the packet's CLIPPED flag (see ``ImuPacket.build``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dorsi.firmware_protocol.constants import RAW_FULL_SCALE, AccRange, GyroRange

INT16_MIN = -(1 << 15)
INT16_MAX = (1 << 15) - 1


def quantize(
    acc_mps2: NDArray[np.float64],
    gyr_dps: NDArray[np.float64],
    acc_range: AccRange,
    gyro_range: GyroRange,
) -> NDArray[np.int16]:
    """Return (N, 6) int16 counts (acc x, y, z, gyr x, y, z) for (N, 3) m/s² and deg/s arrays."""
    acc_counts = acc_mps2 * (RAW_FULL_SCALE / acc_range.full_scale_mps2)
    gyr_counts = gyr_dps * (RAW_FULL_SCALE / gyro_range.full_scale_dps)
    counts = np.rint(np.hstack([acc_counts, gyr_counts]))
    return np.clip(counts, INT16_MIN, INT16_MAX).astype(np.int16)
