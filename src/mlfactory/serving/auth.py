"""Who may call which route: one bearer-token check that runs before every route.

``create_app`` gives the app a single FastAPI dependency (``Server.authorize``),
so every API route gets it, the protocols' routes and any added later. With a
token set (``MLFACTORY_API_TOKEN`` or ``ServingConfig.api_token``) every route
needs ``Authorization: Bearer <token>`` except ``OPEN_ROUTES``, the probes that
orchestrators and Prometheus call without credentials. They are exact route
templates, never prefixes: a new route is private until its path is added here.
Routes under ``/admin/`` always need the token, and are off (403) without one.
The OpenAPI document and its pages (``/openapi.json``, ``/docs``, ``/redoc``)
are not API routes; FastAPI serves them without dependencies, so they stay open.

Tokens are compared as bytes: the header as the client sent it, the token as
UTF-8. Any header, however malformed or non-ASCII, is a 401, never an error.
"""

from __future__ import annotations

import hmac

from mlfactory.errors import BadInputError, ServingError

__all__ = ["ADMIN_PREFIX", "OPEN_ROUTES", "TOKEN_ENV", "Guard"]

TOKEN_ENV = "MLFACTORY_API_TOKEN"
ADMIN_PREFIX = "/admin/"
OPEN_ROUTES = frozenset(
    {
        "/health/live",
        "/health/ready",
        "/metrics",
        "/ping",  # MLflow scoring protocol
        "/v2",  # V2 server metadata
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}/ready",
    }
)


class Guard:
    """The token check of one server; ``token`` None leaves every route but admin open."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._expected: bytes | None = None
        if token is not None:
            if not token.strip():
                raise BadInputError(
                    f"{TOKEN_ENV} is set but blank ({token!r}); set it to a token, or unset "
                    "it to serve without one"
                )
            # a header value cannot start or end with whitespace (a token read from a
            # file often ends with a newline); surrogateescape gives back the bytes of
            # an environment variable that is not UTF-8
            self._expected = token.strip().encode("utf-8", "surrogateescape")

    def refusal(self, route: str, authorization: bytes) -> ServingError | None:
        """Why a request for ``route`` (a path template) is refused, or None to let it in.

        ``authorization`` is the raw ``Authorization`` header (empty when absent).
        """
        admin = route.startswith(ADMIN_PREFIX)
        if self._expected is None:
            if not admin:
                return None
            return ServingError(
                403, f"admin endpoints are off: start the server with {TOKEN_ENV} set", kind="auth"
            )
        if not admin and route in OPEN_ROUTES:
            return None
        given = bearer(authorization)
        if given is not None and hmac.compare_digest(given, self._expected):
            return None
        return ServingError(
            401, "missing or wrong bearer token (Authorization: Bearer ...)", kind="auth"
        )


def bearer(authorization: bytes) -> bytes | None:
    """The token of ``Bearer <token>`` (the scheme in any case), or None for anything else."""
    parts = authorization.split(maxsplit=1)
    if len(parts) != 2 or parts[0].lower() != b"bearer":
        return None
    return parts[1].strip()
