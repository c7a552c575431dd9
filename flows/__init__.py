"""Prefect flows and tasks: the only package that imports prefect (issue 4)."""
