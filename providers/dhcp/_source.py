"""Following one lease file: read it whole once, then only what was appended, or whole again if it was replaced.

A file counts as only grown when it has the same device and inode, is at least as long as what was read, and
the ``_TAIL`` bytes before the read position are unchanged; otherwise (dhcpd's and Kea's rewrites make a new
inode; an in-place rewrite changes those bytes) it is parsed again from the start into a new index.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from positron.providers.dhcp._leases import (
    KEA_HEADER,
    Format,
    KeaColumns,
    LeaseIndex,
    kea_columns,
    parse_isc,
    parse_kea,
)

_TAIL = 64  # bytes before the read offset remembered to notice a rewritten file

_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a file is parsed (about 15% of a large load otherwise: the index
    holds no cycles); nested and concurrent pauses resume it once, and only if it was on."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


@dataclass
class LeaseSource:
    """One configured file and how far it has been read."""

    path: Path
    format: Format | None
    index: LeaseIndex | None = None
    error: str | None = None
    mtime: float = 0.0
    _stamp: tuple[int, int, int, int] | None = None
    _offset: int = 0
    _line: int = 1
    _tail: bytes = b""
    _kind: Format = "isc"
    _columns: KeaColumns = field(default_factory=lambda: kea_columns(KEA_HEADER))

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
            if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != self._stamp or self.index is None:
                with open(self.path, "rb") as fh, _gc_paused():
                    st = os.fstat(fh.fileno())
                    self._read(fh, st)
        except OSError as exc:
            self.error = f"cannot read {self.path}: {exc.strerror or type(exc).__name__}"
            self.index, self._stamp = None, None  # read again in full once it is back
            return
        self._stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        self.mtime = st.st_mtime
        self.error = None

    def _read(self, fh: BinaryIO, st: os.stat_result) -> None:
        index = self.index
        if index is None or self._stamp is None or self._stamp[:2] != (st.st_dev, st.st_ino):
            index = self._restart(fh)
        elif st.st_size < self._offset or not self._continues(fh):
            index = self._restart(fh)
        if self._kind == "kea":
            consumed, self._line, self._columns = parse_kea(fh, index, self._line, self._columns)
        else:
            consumed, self._line = parse_isc(fh, index, self._line)
        index.finish()
        self._offset += consumed
        fh.seek(max(0, self._offset - _TAIL))
        self._tail = fh.read(self._offset - fh.tell())
        self.index = index

    def _continues(self, fh: BinaryIO) -> bool:
        """The bytes before the read offset are the ones read last time (the file only grew)."""
        fh.seek(self._offset - len(self._tail))
        return fh.read(len(self._tail)) == self._tail

    def _restart(self, fh: BinaryIO) -> LeaseIndex:
        fh.seek(0)
        head = fh.read(4096).lstrip()
        self._kind = self.format or ("kea" if head.startswith(b"address,") else "isc")
        self._offset, self._line, self._tail = 0, 1, b""
        self._columns = kea_columns(KEA_HEADER)
        fh.seek(0)
        return LeaseIndex()
