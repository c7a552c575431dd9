"""The FastAPI application: one factory, every router, the store and settings injected."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI
from starlette.types import ASGIApp

from clarion.settings import Settings, get_settings
from faces.web.fast_path import PublicFastPath
from faces.web.headers import SecurityHeaders
from faces.web.limits import BodyLimit
from faces.web.public_cache import PublicCache


class WebApp(FastAPI):
    """FastAPI with :class:`SecurityHeaders` outside everything, the 500 page of the server-error
    middleware included (middleware added with ``add_middleware`` sits inside that one), and the
    public documents' fast path (:mod:`faces.web.fast_path`) in front, answering from copies that
    carry those headers already."""

    def build_middleware_stack(self) -> ASGIApp:
        secured = SecurityHeaders(super().build_middleware_stack())
        # outermost: a copy keeps the headers SecurityHeaders added, so a copied answer needs no pass
        return PublicFastPath(secured, lambda: self.state.public)


def create_app(settings: Settings | None = None, *, engine: sa.Engine | None = None) -> FastAPI:
    """Build the web app. Routers are in their own modules; state carries settings and the engine.

    Routers read ``request.app.state.settings`` and ``request.app.state.engine``. Without an
    ``engine``, the process-wide one is used for the process-wide settings, else one is made for
    ``settings.effective_database_url`` (no connection is opened until the first request).
    Every request body is bounded (:mod:`faces.web.limits`) and every response carries the
    security headers (:mod:`faces.web.headers`).
    """
    from clarion import store
    from clarion.audiences.unsubscribe import secret_key
    from faces.web import (
        embed,
        feeds,
        pages,
        staff,
        static_files,
        statusapi,
        subscribe,
        subscribe_manage,
        survey,
        unsubscribe,
        webhooks,
    )

    secret_key(settings or get_settings())  # ConfigError: no start with a missing, empty or weak key
    if engine is None:
        engine = (
            store.get_engine() if settings is None else store.make_engine(settings.effective_database_url)
        )
    settings = settings or get_settings()
    app = WebApp(title="clarion", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit)  # every body bounded per route before any route reads it
    app.state.settings = settings
    app.state.engine = engine
    app.state.public = PublicCache(engine, settings)  # the status page's snapshot and documents
    app.include_router(feeds.router)
    app.include_router(embed.router)  # /embed/banner: framable by CLARION_EMBED_ORIGINS only
    app.include_router(pages.router)
    app.include_router(statusapi.router)  # /api/v2/*.json, /history.atom, /history.rss
    app.include_router(unsubscribe.router)
    app.include_router(webhooks.router)
    app.include_router(subscribe.router)  # /subscribe, its confirmation and code pages
    app.include_router(subscribe_manage.router)  # /subscriptions/{token}: the manage page
    app.include_router(survey.router)  # /survey/{token}: the follow-up survey behind its signed link
    app.include_router(staff.router)  # /staff/*: follow-ups and survey reports, HTTP Basic auth
    app.include_router(static_files.router)
    return app
