"""Files a person names on the command line or in a playbook: checked before they are read.

A path given to clarion may be anything: a missing file, a folder, a symlink loop, ``/dev/zero``
(endless), a FIFO (a read blocks forever), a file gigabytes long, or text in another encoding. Each of
these is refused here with one clear :class:`~clarion.errors.Problem` naming the file, before a byte
is read, instead of a traceback, a hang or a MemoryError:

* :func:`check_regular` stats the path (following symlinks) and accepts regular files only;
* :func:`read_text` reads one whole, bounded, UTF-8 file (facts, playbooks, update files);
* :func:`open_text` opens a file to be streamed (audience CSVs, which may be large) after the same
  check; decoding errors met while streaming are the caller's to report with their line
  (:func:`decode_problem` words them).
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
from pathlib import Path
from typing import IO

from clarion.errors import InputError, Problem, display_path

MAX_TEXT_BYTES = 1 << 20
"""The largest facts, playbook or update file read whole (1 MiB: a long facts file is 10 KiB)."""

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
)
_BOMS += ((codecs.BOM_UTF16_BE, "UTF-16"),)


def _problem(path: Path, message: str, line: int | None = None) -> Problem:
    return Problem(display_path(path), line, "", message)


def check_regular(path: Path, *, error: type[InputError] = InputError, what: str = "file") -> os.stat_result:
    """The path's status when it is a readable regular file; else ``error`` saying what it is."""
    try:
        status = path.stat()
    except FileNotFoundError:
        raise error([_problem(path, f"{what} not found")]) from None
    except PermissionError:
        raise error([_problem(path, f"cannot read the {what}: permission denied")]) from None
    except OSError as exc:
        reason = "a symlink loop" if exc.errno == errno.ELOOP else (exc.strerror or type(exc).__name__)
        raise error([_problem(path, f"cannot read the {what}: {reason}")]) from None
    if not stat.S_ISREG(status.st_mode):
        kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
        raise error([_problem(path, f"is {kind}, not a {what} clarion can read")])
    if not os.access(path, os.R_OK):
        raise error([_problem(path, f"cannot read the {what}: permission denied")])
    return status


def _encoding_of_bom(head: bytes) -> str | None:
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def decode_problem(path: Path, data: bytes, exc: UnicodeDecodeError, *, offset: int = 0) -> Problem:
    """A decoding failure of ``data`` (read from ``offset`` in the file), with its line."""
    if (encoding := _encoding_of_bom(data if offset == 0 else b"")) is not None:
        return _problem(path, f"the file is {encoding} text: save it as UTF-8", 1)
    line = data.count(b"\n", 0, exc.start) + 1
    byte = data[exc.start : exc.start + 1].hex()
    return _problem(path, f"not UTF-8 text (byte 0x{byte}): save the file as UTF-8", line)


def read_text(
    path: Path, *, error: type[InputError] = InputError, max_bytes: int = MAX_TEXT_BYTES, what: str = "file"
) -> str:
    """The whole file as text: a regular file of at most ``max_bytes``, in UTF-8 (a BOM is dropped)."""
    status = check_regular(path, error=error, what=what)
    limit = f"{max_bytes // 1024} KiB" if max_bytes < 1 << 20 else f"{max_bytes >> 20} MiB"
    if status.st_size > max_bytes:
        raise error([_problem(path, f"the {what} is larger than {limit}")])
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error([_problem(path, f"cannot read the {what}: {exc.strerror or exc}")]) from None
    if len(data) > max_bytes:  # it grew since the stat
        raise error([_problem(path, f"the {what} is larger than {limit}")])
    if (encoding := _encoding_of_bom(data)) is not None:
        raise error([_problem(path, f"the {what} is {encoding} text: save it as UTF-8", 1)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error([decode_problem(path, data, exc)]) from None


def open_text(path: Path, *, error: type[InputError] = InputError, what: str = "file") -> IO[str]:
    """A regular file opened for streaming as UTF-8 text (``newline=""``, a BOM dropped).

    A UTF-16 or UTF-32 file is refused at once; other decoding errors surface as
    :class:`UnicodeDecodeError` while reading, for the caller to report with its line.
    """
    check_regular(path, error=error, what=what)
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
        if (encoding := _encoding_of_bom(head)) is not None:
            raise error([_problem(path, f"the {what} is {encoding} text: save it as UTF-8", 1)])
        return path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise error([_problem(path, f"cannot read the {what}: {exc.strerror or exc}")]) from None
