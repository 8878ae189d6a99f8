"""dorsi home gateway: BLE sensor link, streaming gait analysis, loss-free MQTT publishing."""
