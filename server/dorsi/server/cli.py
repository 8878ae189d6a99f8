"""``dorsi-server`` command line: run the server, ingest, administer the registry, read the audit
log.

Every command reads the same settings (``--config`` TOML file, ``DORSI_…`` environment variables;
see :mod:`dorsi.server.settings`) and has ``--help``.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import astuple, fields
from datetime import UTC, date, datetime
from pathlib import Path

from dorsi.server.audit import MAX_QUERY, AuditEntry
from dorsi.server.registry import Registry, RegistryError
from dorsi.server.settings import Settings, load_settings

Command = Callable[[argparse.Namespace, Settings], int]
log = logging.getLogger("dorsi.server")


def _password(args: argparse.Namespace, prompt: str) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise SystemExit(f"dorsi-server: environment variable {args.password_env} is not set")
        return value
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """HTTP API (uvicorn) and, unless --no-ingest, one ingest worker in the same process."""
    import uvicorn

    from dorsi.server.app import create_app
    from dorsi.server.ingest import IngestWorker
    from dorsi.server.metrics import Metrics

    store = settings.store.open()
    registry = Registry(settings.registry_path, token_pepper=settings.secret_key)
    metrics = Metrics()
    worker = None
    if not args.no_ingest:
        worker = IngestWorker(
            store, settings.mqtt.config(), options=settings.mqtt.options(), metrics=metrics
        )
        worker.start()
    app = create_app(settings, store, registry, metrics)
    try:
        uvicorn.run(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="info",
            proxy_headers=True,
            forwarded_allow_ips=settings.security.forwarded_allow_ips,
        )
    finally:
        if worker is not None:
            worker.stop()
        store.close()
        registry.close()
    return 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    """One ingest worker until SIGTERM/SIGINT."""
    from dorsi.server.ingest import IngestWorker

    store = settings.store.open()
    worker = IngestWorker(store, settings.mqtt.config(), options=settings.mqtt.options())

    def _stop(signum: int, frame: object) -> None:
        worker.request_stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    worker.run_forever()
    store.close()
    return 0


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry(settings.registry_path)
    try:
        user = registry.create_user(
            args.username, _password(args, "password: "), "admin" if args.admin else "therapist"
        )
    finally:
        registry.close()
    print(f"created {user.role} {user.username}")
    return 0


def _add_patient(args: argparse.Namespace, settings: Settings) -> int:
    registry = Registry(settings.registry_path)
    try:
        patient = registry.add_patient(args.patient, args.name, args.side, args.brace)
        for username in args.therapist:
            registry.assign(username, patient.id)
    finally:
        registry.close()
    print(f"added patient {patient.id} ({patient.affected_side}); therapists: {args.therapist}")
    return 0


def _pair_device(args: argparse.Namespace, settings: Settings) -> int:
    from dorsi.server.mqtt_acl import mosquitto_hash, new_device_secret

    secret = new_device_secret()
    registry = Registry(settings.registry_path)
    try:
        device = registry.pair_device(
            args.device, args.patient, args.side, mqtt_hash=mosquitto_hash(secret)
        )
    finally:
        registry.close()
    print(f"paired {device.id} with {device.patient_id} ({device.side})")
    print(f"MQTT user: {device.id}")
    print(f"MQTT password (shown once, give it to the gateway): {secret}")
    print("then run `dorsi-server mqtt-acl` and reload Mosquitto")
    return 0


def _utc_arg(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; write it like 2026-11-28T09:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z for UTC")
    return moment


def _limit_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_QUERY:
        raise argparse.ArgumentTypeError(f"give 1–{MAX_QUERY}, not {value}")
    return value


def _when_arg(text: str) -> datetime:
    """A day (00:00 UTC) or a time with zone, for ``audit --since/--until``."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return _utc_arg(text)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


AUDIT_COLUMNS = ("time (UTC)", "user", "role", "action", "patient", "outcome", "status", "request")


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    """Print the newest audit entries (oldest of them first) as a table or CSV."""
    registry = Registry(settings.registry_path)
    try:
        entries = registry.audit.query(
            patient_id=args.patient,
            username=args.user,
            since=args.since,
            until=args.until,
            limit=args.limit,
        )
    finally:
        registry.close()
    rows = [
        (
            e.t[:19].replace("T", " "),
            e.username,
            e.role,
            e.action,
            e.patient_id,
            e.outcome,
            str(e.status),
            f"{e.method} {e.path} from {e.client_ip}",
        )
        for e in reversed(entries)
    ]
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([f.name for f in fields(AuditEntry)])
        for e in reversed(entries):
            writer.writerow(astuple(e))
        return 0
    if not rows:
        print("no audit entries match")
        return 0
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(AUDIT_COLUMNS)]
    for line in (AUDIT_COLUMNS, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    more = " (the newest; raise --limit for more)" if len(entries) == args.limit else ""
    print(f"{len(rows)} entries{more}")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from dorsi.server.importer import import_csv

    store = settings.store.open()
    try:
        result = import_csv(
            args.csv,
            store,
            patient=args.patient,
            device=args.device,
            side=args.side,
            start=args.start,
        )
    finally:
        store.close()
    for line in result.refused:
        print(f"refused {line}", file=sys.stderr)
    print(f"stored {result.stored} strides, refused {len(result.refused)}")
    return 1 if result.refused else 0


def _mqtt_acl(args: argparse.Namespace, settings: Settings) -> int:
    from dorsi.server.mqtt_acl import DeviceCredential, write_files

    registry = Registry(settings.registry_path)
    try:
        creds = [DeviceCredential(*row) for row in registry.mqtt_credentials()]
    finally:
        registry.close()
    passwd, acl = write_files(
        args.out,
        creds,
        server_users=args.server_user or ["dorsi-server"],
        server_password=_password(args, "server MQTT password: "),
        share_group=settings.mqtt.config().share_group,
    )
    print(f"wrote {passwd} and {acl} for {len(creds)} devices")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every command has ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="dorsi-server",
        description="dorsi clinic server: MQTT ingest, time-series store, registry and API.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML settings (DORSI_* variables override)"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve the HTTP API and ingest MQTT")
    run.add_argument("--no-ingest", action="store_true", help="API only, no MQTT worker")
    run.set_defaults(handler=_run)

    ingest = commands.add_parser("ingest", help="run one MQTT ingest worker (no HTTP API)")
    ingest.set_defaults(handler=_ingest)

    user = commands.add_parser("create-user", help="create a therapist (or --admin) account")
    user.add_argument("username")
    user.add_argument("--admin", action="store_true", help="create an admin")
    user.add_argument(
        "--password-env",
        help="read the password from this environment variable "
        "(default: prompt, or one line of standard input)",
    )
    user.set_defaults(handler=_create_user)

    patient = commands.add_parser("add-patient", help="register a patient (pseudonymous id)")
    patient.add_argument("patient", help="pseudonymous id, e.g. p-7f3a")
    patient.add_argument("--name", required=True, help="display name (therapists only)")
    patient.add_argument("--side", required=True, choices=["left", "right"], help="affected side")
    patient.add_argument("--brace", default="", help="brace type, e.g. 'carbon AFO'")
    patient.add_argument(
        "--therapist", action="append", default=[], help="assign this user (repeatable)"
    )
    patient.set_defaults(handler=_add_patient)

    pair = commands.add_parser("pair-device", help="pair a sensor with a patient's side")
    pair.add_argument("device", help="sensor id, e.g. dorsi-1a2b")
    pair.add_argument("patient", help="patient id")
    pair.add_argument("--side", required=True, choices=["left", "right"])
    pair.set_defaults(handler=_pair_device)

    imp = commands.add_parser("import", help="import a strides CSV (same validation as MQTT)")
    imp.add_argument("csv", type=Path, help="CSV with a header of stride field names")
    imp.add_argument("--patient", required=True)
    imp.add_argument("--device", required=True)
    imp.add_argument("--side", required=True, choices=["left", "right"])
    imp.add_argument(
        "--start",
        type=_utc_arg,
        default=None,
        help="UTC of the recording's first sample, e.g. 2026-11-28T09:00:00Z, when event times "
        "are seconds (the output of `dorsi-signal analyze`)",
    )
    imp.set_defaults(handler=_import)

    acl = commands.add_parser("mqtt-acl", help="write Mosquitto passwd + acl for paired devices")
    acl.add_argument("--out", type=Path, required=True, help="directory for passwd and acl")
    acl.add_argument(
        "--server-user",
        action="append",
        help="an ingest worker's MQTT user (repeat for several workers; the broker uses the user "
        "name as client id); default: dorsi-server",
    )
    acl.add_argument("--password-env", help="environment variable with the server's password")
    acl.set_defaults(handler=_mqtt_acl)

    audit = commands.add_parser(
        "audit",
        help="show who viewed, exported or changed which patient's data",
        description="Print audit-log entries, newest last: who listed, viewed, exported, "
        "reported on, created or changed which patient's data, the outcome (ok, denied, "
        "failed), the request and the client address. Times are UTC.",
    )
    audit.add_argument("--patient", help="only this patient id")
    audit.add_argument("--user", help="only this username")
    audit.add_argument(
        "--since", type=_when_arg, help="from this day or time (e.g. 2026-11-01 or …T09:00:00Z)"
    )
    audit.add_argument("--until", type=_when_arg, help="before this day or time (exclusive)")
    audit.add_argument(
        "--limit",
        type=_limit_arg,
        default=50,
        help=f"at most this many of the newest entries (default 50, at most {MAX_QUERY})",
    )
    audit.add_argument("--csv", action="store_true", help="CSV with every column instead")
    audit.set_defaults(handler=_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dorsi-server``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args.config)
    except (OSError, ValueError) as exc:
        print(f"dorsi-server: cannot read settings: {exc}", file=sys.stderr)
        return 2
    handler: Command = args.handler
    try:
        return handler(args, settings)
    except (RegistryError, ValueError, OSError) as exc:
        print(f"dorsi-server {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
