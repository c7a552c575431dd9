"""``python -m channels.sandbox [--host H] [--port N] [--config FILE.json]``: run the sandbox."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from channels.sandbox.config import SandboxConfig
from channels.sandbox.runner import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m channels.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--config", type=Path, help="a JSON file of SandboxConfig fields")
    args = parser.parse_args(argv)
    config = SandboxConfig()
    if args.config is not None:
        config = SandboxConfig.model_validate(json.loads(args.config.read_text(encoding="utf-8")))

    def ready(url: str) -> None:
        sys.stderr.write(f"clarion provider sandbox on {url} (Ctrl-C to stop)\n")
        sys.stderr.flush()

    serve(config, host=args.host, port=args.port, on_ready=ready)


if __name__ == "__main__":
    main()
