"""The post-incident report: what an incident's record says about how it was told, in figures.

:mod:`~clarion.review.figures` computes them from the store (never from logs); the other modules
give them a form: Markdown (the CLI, the Prefect artifact), JSON, the HTML page and the PDF drawn
from one template, and the trend across incidents.
"""
