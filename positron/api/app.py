"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from positron import __version__
from positron.api import admin, errors, hooks, lookup, metrics, queries, system, workflows
from positron.api.body import JSONResponse
from positron.api.deps import get_principal
from positron.api.middleware import SecurityMiddleware
from positron.api.observe import ObserveMiddleware
from positron.broker import Broker

DESCRIPTION = """Ask every configured source the same standardized question at once and get one ranked answer,
with its provenance, alternatives and conflicts. Authorize with an API key (`Authorization: Bearer <key>`)."""


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(broker: Broker) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        _build_routes(app)
        unwatch = broker.guard.watch_sighup()  # kill -HUP reloads keys and policy
        try:
            yield
        finally:
            unwatch()
            await broker.close()

    app = FastAPI(
        title="Positron",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if broker.settings.server.docs_public else None,
        generate_unique_id_function=_operation_id,
        default_response_class=JSONResponse,
    )
    app.state.broker = broker
    errors.install(app)
    _harden(app, broker)
    app.add_middleware(hooks.HideHookToken)  # outermost: a webhook's token leaves the path before anything logs it
    app.include_router(system.router)
    app.include_router(metrics.router)
    app.include_router(queries.build_router(broker.engine.catalog))
    app.include_router(admin.router)
    app.include_router(workflows.router)
    app.include_router(hooks.router)
    lookup.install(app, enabled=broker.settings.server.lookup_page)
    _mount_docs(app, public=broker.settings.server.docs_public)
    return app


def _build_routes(app: FastAPI) -> None:
    """FastAPI builds an included router's routes on the first request that reaches it (~70 ms here, measured by
    bench/): build them at start, so the first request after a start or reload is not late for its deadline."""
    scope = {"type": "http", "method": "GET", "path": "/", "root_path": "", "headers": [], "query_string": b""}
    for route in app.router.routes:
        route.matches(scope)


def _harden(app: FastAPI, broker: Broker) -> None:
    """CORS only for configured origins (off by default); request ids, client address, security headers, the body
    limit and the audit line of every request."""
    security = broker.settings.security
    if security.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=security.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(ObserveMiddleware, metrics=broker.metrics)  # log context, trace span, request metrics
    app.add_middleware(  # outermost but for hooks.HideHookToken
        SecurityMiddleware,
        max_body_bytes=security.max_body_bytes,
        audit=broker.guard.audit,
        trusted_proxies=broker.settings.server.trusted_proxies,
    )


def _mount_docs(app: FastAPI, public: bool = True) -> None:
    """Swagger UI from the swagger-ui-bundle package: /docs works without internet. With server.docs_public
    false, /docs and /openapi.json need a key too."""
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
    guard = [] if public else [Depends(get_principal)]
    if not public:

        @app.get("/openapi.json", include_in_schema=False, dependencies=guard)
        async def openapi() -> JSONResponse:
            return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Positron API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )
