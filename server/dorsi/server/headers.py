"""Response headers that keep pages out of frames and patient data out of caches and Referer
headers (ids and home-link keys travel in URLs)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE = (b"cache-control", b"no-store")
CACHEABLE_PREFIXES = ("/static/",)


class SecurityHeadersMiddleware:
    """Adds :data:`ALWAYS` to every response and ``Cache-Control: no-store`` to every response
    outside :data:`CACHEABLE_PREFIXES` that sets no cache policy itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = str(scope.get("path", "")).startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [h for h in ALWAYS if h[0] not in present]
                if not cacheable and NO_STORE[0] not in present:
                    extra.append(NO_STORE)
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
