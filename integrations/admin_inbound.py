"""Admin of the inbound part of integrations."""
