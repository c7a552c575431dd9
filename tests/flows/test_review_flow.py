"""The post-incident report as a Prefect artifact: the task the resolution runs, on the incident of
known timings (:mod:`tests.clarion.review.review_world`), read back from the Prefect test server."""

from __future__ import annotations

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from channels.sandbox.runner import SandboxHandle
from clarion import store
from flows.review import report_artifact
from tests.clarion.review.review_world import known_incident


@flow(name="report-only")
def report_only(reference: str) -> str:
    """The task as the resolution's publish runs it (inside a flow run, where artifacts belong)."""
    return report_artifact(reference)


def test_the_report_artifact_gives_the_headline(sandbox: SandboxHandle) -> None:
    reference = known_incident(store.get_engine(), reference="INC-0420")

    assert report_only(reference) == "inc-0420-report"

    with get_client(sync_client=True) as client:
        artifacts = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=["inc-0420-report"])
            )
        )
    markdown = str(artifacts[0].data)
    assert markdown.startswith("# INC-0420 post-incident report: Checkout is failing\n")
    for line in (
        "- **Time to first word**: 0h 40m (first message accepted 2026-03-02 08:40 UTC)",
        "- **Promises kept**: 2 of 3 (67 %), worst lateness 0h 25m",
        "- **Reach**: 2 of 5 affected recipients (40 %) received at least one message",
        "- **Deadlines**: 1 met, 1 late, 0 waived, 0 missed, 0 open",
    ):
        assert line in markdown
