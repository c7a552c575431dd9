"""The public status page, as data: components, their derived states, incidents and maintenance as
the public saw them, and the documents the web app and the static export render from it.

Nothing here renders HTML or speaks HTTP (``faces/web`` does); everything reads only what was
published, never a draft waiting for approval.
"""
