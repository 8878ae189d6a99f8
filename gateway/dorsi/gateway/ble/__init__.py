"""BLE link to the brace sensors (bleak)."""
