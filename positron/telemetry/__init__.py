"""What an operator watches: the process log (``logs``: one event a line, text or JSON, request id on every
record), Prometheus metrics (``metrics``) and optional OpenTelemetry tracing (``tracing``: off, and not imported,
unless enabled)."""
