#!/usr/bin/env bash
# The main job, for now: simulate a foot-drop walk and stream it, live, from the virtual BLE brace
# sensor to a virtual central over bumble's in-process link. Installs what it needs on first run.
# Extra arguments go to `dorsi-sensor serve` (see `.venv/bin/dorsi-sensor serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
out=out/demo
mkdir -p "$out"
echo "== simulating 60 s of a mild foot-drop walk (left foot, 104 Hz) into $out/"
.venv/bin/dorsi-sensor simulate --scenario footdrop_mild --seconds 60 --rate 104 --side left \
  --seed 1 --out "$out"
echo "== streaming it through the virtual brace sensor; the link drops at 20 s and the"
echo "   missed packets come back from the sensor's ring buffer (Ctrl-C stops)"
exec .venv/bin/dorsi-sensor serve --csv "$out/imu.csv" --rate 104 --side left --demo \
  --drop-at 20 "$@"
