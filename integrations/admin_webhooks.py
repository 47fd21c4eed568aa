"""Admin of the webhooks part of integrations."""
