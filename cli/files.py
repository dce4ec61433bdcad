"""Writing report files: atomically, and with the permissions a plain ``open()`` gives; and the
two questions asked before one is written (is it one of the inputs? is it an earlier report?).

Shared by ``--export`` and ``gradcalc check``'s ``--csv``/``--junit``, so that both follow
the same rules; no Rich or Click here, so that importing it costs nothing at start-up.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

# An earlier report is recognised by its first bytes (gradcalc's marker, header or root element).
SNIFF_BYTES = 4096


def file_key(path: str) -> object:
    """What tells files apart: device and inode when ``path`` exists (so that symbolic and
    hard links to one file have one key), else the path with symbolic links resolved."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return os.path.realpath(path)
    return (info.st_dev, info.st_ino)


def same_file(path: str, other: str) -> bool:
    """The two names reach one file: symbolic links resolved, hard links too (same device and
    inode).  ``other`` "-" is standard input: the file it was redirected from, if any."""
    if other != "-" and os.path.realpath(path) == os.path.realpath(other):
        return True
    try:
        target = os.stat(path)
        source = os.fstat(0) if other == "-" else os.stat(other)
    except (OSError, ValueError):  # one of them does not exist (yet), or no standard input
        return False
    return (target.st_dev, target.st_ino) == (source.st_dev, source.st_ino)


def earlier_report(path: str, looks_like: Callable[[bytes], bool]) -> bool:
    """True when the file at ``path`` can be replaced without losing anything: it is empty
    (nothing, or only blank space), or its first bytes are, by ``looks_like``, an earlier
    report of the kind about to be written.  A file that cannot be read is not: it cannot be
    told apart from someone's file."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(SNIFF_BYTES)
    except OSError:
        return False
    if not head.strip() and len(head) < SNIFF_BYTES:  # the whole file was read: blank
        return True
    return looks_like(head)


def write_atomically(path: str, text: str) -> None:
    """Write via a temporary file in the same folder and os.replace: readers never see half a
    file, and a failed run leaves an earlier report in place.  The file gets the usual
    permissions (mkstemp's are owner-only), since it is meant to be shared.  A symbolic
    link is followed: its target gets the new report.  A pipe or device is written to, never
    replaced."""
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        # A pipe or device (/dev/stdout, /dev/null, a FIFO): written to, never replaced by a
        # regular file, which would break it for everyone.
        with open(path, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        return
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    descriptor, temporary = tempfile.mkstemp(prefix=".gradcalc-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(temporary, shared_mode(path))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def shared_mode(path: str) -> int:
    """The mode of the file being replaced, else 0o666 less the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
