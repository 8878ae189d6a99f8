"""Virtual dorsi brace sensor: an emulated BLE peripheral (bumble) plus a minimal central.

Needs the ``sensor`` extra (bumble, numpy). Modules, one job each:

- ``link``: in-process BLE radio (bumble ``LocalLink`` + one ``Controller`` per host).
- ``source``: IMU sample sources (simulator, CSV, arrays) at any supported rate.
- ``quantize``: SI samples → int16 counts at the current full-scale ranges.
- ``ring``: the device's ring buffer of recent packets, for BACKFILL.
- ``ticks``: the device's drifting tick counter.
- ``peripheral``: the GATT server and firmware behaviour (``VirtualSensor``).
- ``central``: a small bumble central used by the demo and the tests.
- ``harness``: ready-made async context managers (running sensor, connected central).
- ``demo``: the demo central of ``dorsi-sensor serve``.
- ``cli``: ``dorsi-sensor serve``.

See ``docs/virtual_sensor.md``.
"""
