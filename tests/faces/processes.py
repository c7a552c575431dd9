"""Looking at processes from a test: free ports, and whether a pid or a process group still lives.

Linux only: reads ``/proc``. A zombie counts as gone (it runs no code and holds no port; it only
waits for its new parent, often PID 1, to reap it).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, ..."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def group_members(groups: Iterable[int]) -> list[int]:
    """Live processes in any of these process groups."""
    wanted = {str(group) for group in groups}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z" and fields[2] in wanted:
                found.append(int(entry.name))
    return found


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """``condition()`` became true within ``timeout`` seconds (a SIGKILLed process takes a moment)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
