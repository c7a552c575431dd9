"""``python -m flows``: serve every clarion deployment from this process (``clarion serve`` runs it)."""

from flows.deployments import serve_all

if __name__ == "__main__":
    serve_all()
