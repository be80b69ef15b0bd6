"""Bearer-token auth for ``/api/v1`` (DESIGN §6): on when ``APART_API_TOKEN`` is set."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from apart.api.errors import ApiError

#: declares the scheme in OpenAPI; the check itself is require_token's
bearer = HTTPBearer(auto_error=False, description="the server's APART_API_TOKEN")


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    token: str | None = request.app.state.apart.settings.api_token
    if not token:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        problem = "a wrong token" if credentials is not None else "no bearer token"
        raise ApiError(
            401, "unauthorized",
            f"this server requires a token and the request has {problem}: send "
            "'Authorization: Bearer <APART_API_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="apart"'},
        )
