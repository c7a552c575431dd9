"""The post-incident report as a Prefect artifact, published with the incident's resolution.

:func:`publish_update` calls :func:`report_artifact` once the resolution is sent and its deadlines
are recorded, so the report (:mod:`clarion.review`) shows the resolution's own deliveries and the
stages it met; ``clarion report`` gives the same figures later, as they grow (a survey, shipped
commitments).
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from clarion.models import Incident
from clarion.review.figures import review
from clarion.review.markdown import review_markdown
from flows.context import open_context
from flows.delivery import artifact_key


@task(name="post-incident report", cache_policy=NO_CACHE)
def report_artifact(reference: str) -> str:
    """Publish the incident's report as the markdown artifact ``inc-0042-report``; returns its key."""
    ctx = open_context(reference)
    with ctx.session() as session:
        incident = session.get(Incident, ctx.incident.id)
        assert incident is not None
        markdown = review_markdown(
            review(session=session, incident=incident, now=ctx.clock.now(), time_scale=ctx.clock.scale)
        )
    key = artifact_key(reference, "report")
    create_markdown_artifact(key=key, markdown=markdown, description=f"{reference}: post-incident report")
    return key
