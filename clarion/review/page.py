"""The post-incident report as an HTML page: the staff page, and the document the PDF is drawn from.

One template, ``clarion/statuspage/templates/review/report.html.j2``, rendered by the status page's
environment (autoescaped, ``StrictUndefined``): every stored text reaches the page escaped. It holds
no script and no inline style, so the web app's default Content-Security-Policy (its own
stylesheets, nothing inline) covers it; ``static`` says where ``status.css`` and ``review.css`` are.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from clarion.review.figures import Review
from clarion.review.headline import duration, headline, percent, when
from clarion.statuspage.pages import render_page

TEMPLATE = "review/report.html.j2"
STATIC = Path(str(files("clarion.statuspage").joinpath("static")))
"""The stylesheets' folder: served as ``/static/`` by the web app, read from here for the PDF."""
STYLESHEETS = ("status.css", "review.css")


def review_page(review: Review, *, static: str | None = "/static/") -> bytes:
    """The report as a UTF-8 HTML document linking :data:`STYLESHEETS` under ``static`` (None: no
    link; the PDF hands them to its renderer)."""
    return render_page(
        TEMPLATE,
        locale="en",
        review=review,
        headline=headline(review),
        when=when,
        duration=duration,
        percent=percent,
        static=static,
        stylesheets=STYLESHEETS,
    )
