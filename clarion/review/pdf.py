"""The post-incident report as a PDF: the HTML page drawn by WeasyPrint, so both show the same.

WeasyPrint lays text out with Pango, a system library: without it, :func:`review_pdf` raises
:class:`~clarion.errors.PdfUnavailable` with the one line that says what to install, before
WeasyPrint is imported (its import would print a page of help and raise ``OSError``). The document
gets the page's two stylesheets (:data:`clarion.review.page.STYLESHEETS`) handed to it and fetches
nothing: every URL is refused, so no stored text can make the renderer reach anything.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

from clarion.errors import PdfUnavailable
from clarion.review.figures import Review
from clarion.review.page import STATIC, STYLESHEETS, review_page

PANGO_LIBRARIES = {"pango-1.0": "libpango-1.0.so.0", "pangoft2-1.0": "libpangoft2-1.0.so.0"}
PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
"""Debian's packages that give WeasyPrint what it needs (``.ci/run`` installs them)."""


def pango_missing() -> str | None:
    """The first Pango library this system cannot load, or None when both load."""
    for name, soname in PANGO_LIBRARIES.items():
        try:
            ctypes.CDLL(soname)
        except OSError:
            if ctypes.util.find_library(name) is None:
                return soname
    return None


def _refuse(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"the report loads nothing, not {url[:80]!r}")


def review_pdf(review: Review) -> bytes:
    """The report as PDF bytes; :class:`PdfUnavailable` when Pango is missing."""
    missing = pango_missing()
    if missing is not None:
        raise PdfUnavailable(f"PDF needs Pango ({missing} is missing): apt-get install {PACKAGES}")
    from weasyprint import CSS, HTML

    sheets = [CSS(string=(STATIC / name).read_text(encoding="utf-8")) for name in STYLESHEETS]
    document = HTML(string=review_page(review, static=None).decode(), url_fetcher=_refuse)
    pdf: bytes = document.write_pdf(stylesheets=sheets)
    return pdf
