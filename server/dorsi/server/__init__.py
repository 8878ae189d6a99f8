"""dorsi clinic server: MQTT ingest, time-series store, patient registry and API."""
