"""The dashboard's routes: ``/`` (the page) and ``/assets/<file>`` (CSS, JS, icon).

The assets are a fixed set, read once from the package: a name that is not one
of them is a 404 in the API's error shape, so no request can reach another file.
Every answer carries a Content-Security-Policy that allows this origin only --
the pages never load anything from elsewhere, and no inline script can run even
if some text slipped through unescaped. The routes are left out of the OpenAPI
schema (they are not part of the REST API) and need no token: the page asks for
one when the API answers 401.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from fastapi.responses import Response

from apart.api.errors import ApiError

#: the content type of each asset, by suffix (other files are not served)
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # small files, changed only by an upgrade: revalidate every time, never stale
    "Cache-Control": "no-cache",
}


def _load(folder: Traversable) -> dict[str, tuple[bytes, str]]:
    """Every servable file of ``folder``: name -> (content, content type)."""
    assets: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in CONTENT_TYPES:
            assets[entry.name] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    return assets


ASSETS = _load(resources.files("apart.dashboard") / "static")

router = APIRouter(include_in_schema=False)


def _response(name: str) -> Response:
    found = ASSETS.get(name)
    if found is None:
        raise ApiError(404, "not_found", f"the dashboard has no file '{name}'")
    content, media_type = found
    return Response(content, media_type=media_type, headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> Response:
    """The dashboard (a single page; its views are addressed by ``#/...``)."""
    return _response("index.html")


@router.api_route("/assets/{name}", methods=["GET", "HEAD"])
def asset(name: str) -> Response:
    """One of the dashboard's files (``app.js``, ``style.css``...)."""
    return _response(name)
