"""``/static/{name}``: the status page's stylesheet and script, and nothing else.

Only a file that is directly in ``clarion/statuspage/static`` is served (the static export copies the
same folder) (a name with a slash, a dot-dot or
any character outside ``[A-Za-z0-9._-]`` is 404 before the file system is asked). Each is read once,
served with an ETag and ``Cache-Control: public, max-age=3600`` (a new release changes the ETag, and
a CDN revalidates within the hour), and answers 304 to a client that has it.
"""

from __future__ import annotations

import mimetypes
import re
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request, Response

from faces.web.public_cache import Entry, cached_response, etag_of

router = APIRouter()
STATIC_MAX_AGE = 3600
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}$")
_TYPES = {".css": "text/css; charset=utf-8", ".js": "application/javascript; charset=utf-8"}


@cache
def static_entry(name: str) -> tuple[Entry, str] | None:
    """The file's bytes and media type, or None when there is no such file."""
    if not _NAME.match(name) or ".." in name:
        return None
    resource = files("clarion.statuspage").joinpath("static", name)
    if not resource.is_file():
        return None
    body = resource.read_bytes()
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    media_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Entry(body, etag_of(body)), media_type


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static_file(request: Request, name: str) -> Response:
    found = static_entry(name)
    if found is None:
        raise HTTPException(status_code=404)
    entry, media_type = found
    return cached_response(request, entry, media_type, max_age=STATIC_MAX_AGE)
