from . import admin_inbound, admin_webhooks  # noqa: F401 - each part registers its own models
