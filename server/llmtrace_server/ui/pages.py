"""Mounts the UI on the app: static files, offline ``/docs``, sign-in, the page routers, and
error pages (a person gets a page saying what went wrong, a program still gets JSON)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmtrace_server.api_errors import (
    STORE_FAILURES,
    store_unavailable_response,
    store_unavailable_text,
    validation_error_response,
)
from llmtrace_server.auth import project_for
from llmtrace_server.ui import alerts, drift, explore, overview, prompts, traces
from llmtrace_server.ui.render import STATIC, render
from llmtrace_server.ui.session import COOKIE, FormData, SignInRequired, login_redirect

SWAGGER = "/static/vendor/swagger-ui"
API_PREFIXES = ("/api/", "/v1/", "/openapi.json", "/healthz", "/readyz", "/static/")


def mount_ui(app: FastAPI) -> None:
    """Add the UI to ``app`` (created with ``docs_url=None``: ``/docs`` is served from here)."""
    app.state.ui_secret = secrets.token_bytes(32)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (overview, explore, traces, prompts, drift, alerts):
        app.include_router(module.router, include_in_schema=False)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            # The default validator badge calls validator.swagger.io: nothing may leave the host.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: Annotated[str, Query(max_length=2048)] = "/") -> Response:
        if not request.app.state.settings.auth_enabled:
            return RedirectResponse(_safe_next(next), status_code=303)
        return render(request, "login.html", next=_safe_next(next), error=request.query_params.get("error"))

    @app.post("/login", include_in_schema=False)
    def login(request: Request, form: FormData) -> Response:
        target = _safe_next(form.get("next", "/"))
        key = form.get("api_key", "")
        try:
            project_for(request.app.state.settings, f"Bearer {key}")
        except StarletteHTTPException:
            return render(
                request, "login.html", status_code=401, next=target, error="That API key is not valid."
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            key,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=30 * 86400,
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(form: FormData) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(login_redirect(exc.next_path), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return await http_exception_handler(request, exc)
        return render(
            request, "error.html", status_code=exc.status_code, status=exc.status_code, message=exc.detail
        )

    async def store_failed(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return store_unavailable_response(exc)
        return render(request, "error.html", status_code=503, status=503, message=store_unavailable_text(exc))

    for failure in STORE_FAILURES:
        app.add_exception_handler(failure, store_failed)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return validation_error_response(exc)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'request'}: {err['msg']}" for err in exc.errors()
        )
        return render(request, "error.html", status_code=400, status=400, message=problems)


def _is_api(request: Request) -> bool:
    """Programs get the API's JSON errors; a person on a page gets a page."""
    return request.url.path.startswith(API_PREFIXES) or request.url.path == "/docs"


def _safe_next(target: str) -> str:
    """Only a path on this server: ``//evil.example`` or ``https://...`` would be an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
