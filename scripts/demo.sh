#!/usr/bin/env bash
# The whole dorsi chain on embedded defaults, in one command: an MQTT broker (Mosquitto when
# installed, else the embedded amqtt), the server on SQLite with three demo patients and six months
# of history, and per patient a virtual brace sensor + a real gateway streaming live walking.
# Prints the dashboard URL and the login; Ctrl-C stops everything. Installs what it needs on first
# run. Extra arguments go to scripts/demo.py (`scripts/demo.sh --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# bootstrap.sh installs the server's "demo" extra (amqtt, the embedded broker used when
# Mosquitto is not installed).
exec .venv/bin/python scripts/demo.py "$@"
