"""The optional HTTP listener: ``/healthz``, ``/metrics`` and pluggable route modules (§3.7)."""
