"""Durable storage: the only place that knows how to replace a file safely, and the state database."""
