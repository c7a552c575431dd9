"""clarion's web app: the banner feed and script, a Statuspage-compatible summary, unsubscribe links
and signed provider webhooks. Built by :func:`faces.web.app.create_app`; run by ``clarion serve``.
"""
