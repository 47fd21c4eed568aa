"""One settings module per mode: dev (default), test, production. `base` holds what they share."""
