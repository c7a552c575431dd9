"""The public status page, as data: components, their derived states, incidents and maintenance as
the public saw them, and the documents the web app and the static export render from it.

Nothing here speaks HTTP (``faces/web`` does); the pages, feeds and API documents are rendered
here from a snapshot, so the web app and the static export serve the same bytes. Everything reads
only what was published, never a draft waiting for approval.
"""
