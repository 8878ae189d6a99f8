"""`dorsi-sensor`: simulate foot-IMU recordings and serve them from a virtual BLE brace sensor.

Each subcommand lives in its own module and registers itself through ``add_parser``; the
heavy ones (numpy, bumble) are imported only when used, so ``--help`` works everywhere.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand name -> module providing add_parser(subparsers) and run(args) -> int
SUBCOMMANDS: dict[str, str] = {
    "simulate": "dorsi.firmware_protocol.sim.cli",
    "serve": "dorsi.firmware_protocol.virtual.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dorsi-sensor",
        description="Simulate foot-IMU gait recordings and serve them from a virtual brace sensor.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # the 'sensor' extra is not installed
            p = sub.add_parser(name, help=f"(unavailable: {exc.name} is not installed)")
            p.set_defaults(missing=exc.name)
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = getattr(args, "missing", None)
    if missing:
        print(
            f"dorsi-sensor {args.command}: needs {missing!r}; install the extra with "
            "`pip install 'dorsi-firmware-protocol[sensor]'`",
            file=sys.stderr,
        )
        return 2
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
