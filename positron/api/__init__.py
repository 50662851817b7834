"""The HTTP boundary: ``app.create_app`` builds the FastAPI application; one router file per resource (``queries``,
``workflows``, ``system``, ``admin``, ``metrics``), request models and response building in ``schemas``, the key
check in ``deps``, request ids, security headers and the body limit in ``middleware``, and the error tree mapped to
HTTP once in ``errors``. A route only parses its input and serializes the typed result."""
