"""The FastAPI application: one factory, every router, the store and settings injected."""

from __future__ import annotations

from fastapi import FastAPI

from clarion.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web app. Routers are in their own modules; state carries settings and the engine."""
    from faces.web import feeds, unsubscribe, webhooks

    settings = settings or get_settings()
    app = FastAPI(title="clarion", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.include_router(feeds.router)
    app.include_router(unsubscribe.router)
    app.include_router(webhooks.router)
    return app
