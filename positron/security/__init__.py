"""Security: who is calling (``auth``: hashed API keys; ``webhooks``: per-webhook tokens in the URL path), what they
may do (``acl``: the Casbin policy), where a value may go (``egress``: internal/external, TLP), what is written down
(``audit``), and what never leaves (``secrets``: write-only config values; ``redact``: no configured secret in any
log line). ``guard`` puts them together in front of every query."""
