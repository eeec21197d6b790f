"""Alerts: the TSV log, console echo, de-duplication and the durable outbox to webhooks (§6)."""
