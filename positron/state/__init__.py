"""Shared state: what replicas share through Redis, or keep in the process without it. The answer cache
(``cache``), single-flight of identical calls (``singleflight``), rate limits (``ratelimit``), circuit breakers
(``circuit``), the guarded Redis link with its local fallback (``redis``) and the wire format of what is shared
(``codec``). ``backends.build_state`` picks memory or Redis for all of them from the config."""
