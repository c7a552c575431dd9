"""The FastAPI application: one factory, every router, the store and settings injected."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI

from clarion.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, engine: sa.Engine | None = None) -> FastAPI:
    """Build the web app. Routers are in their own modules; state carries settings and the engine.

    Routers read ``request.app.state.settings`` and ``request.app.state.engine``. Without an
    ``engine``, the process-wide one is used for the process-wide settings, else one is made for
    ``settings.effective_database_url`` (no connection is opened until the first request).
    """
    from clarion import store
    from faces.web import feeds, unsubscribe, webhooks

    if engine is None:
        engine = (
            store.get_engine() if settings is None else store.make_engine(settings.effective_database_url)
        )
    settings = settings or get_settings()
    app = FastAPI(title="clarion", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.include_router(feeds.router)
    app.include_router(unsubscribe.router)
    app.include_router(webhooks.router)
    return app
