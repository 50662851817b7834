"""The analysts' lookup page at ``/``: plain HTML, JS and CSS shipped in the package (``api/lookup-page``), no
CDN, no build step. The page itself holds no data and needs no key; what it shows comes from ``/v1/queries`` with
the key the analyst types, kept in the tab's sessionStorage. Its CSP (``middleware.LOOKUP_CSP``) allows scripts,
styles and fetches from this server only, and nothing inline. ``server.lookup_page: false`` turns it off."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(str(files("positron.api").joinpath("lookup-page")))  # not a package name: no setuptools warning


def install(app: FastAPI, enabled: bool = True) -> None:
    if not enabled:
        return
    # follow_symlink: an editable install links the package's files (still only files under ASSETS are served)
    app.mount("/static/lookup", StaticFiles(directory=ASSETS, follow_symlink=True), name="lookup")

    @app.get("/", include_in_schema=False)
    async def lookup_page() -> FileResponse:
        return FileResponse(ASSETS / "index.html", media_type="text/html; charset=utf-8")
