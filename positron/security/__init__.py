"""Security: who is calling (``auth``: hashed API keys; ``webhooks``: tokens in the URL path), what they may do
(``acl``: the Casbin policy), where a value may go (``egress``: the one internal/external and TLP rule set), what
they may see (``masking``: fields blanked on the typed result), what is written down (``audit``: one constructor
for every line), and what never leaves (``secrets``: write-only config values; ``redact``: no configured secret in
any log line). ``guard`` puts them together in the one entry point every query goes through (``Guard.ask``)."""
