"""The faces people use: the ``clarion`` CLI (and, later, the web app). They sit on top of everything."""
