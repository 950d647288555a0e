"""The spend spool: an append-only file of usage records, written before a response
completes and read back by the spend writer, so that no answered request loses its row.

Layout: one folder per machine (``general_settings.spool_dir``). Each process (each worker
of ``llmrelay serve --workers N``) appends to its own *segment* file,
``<time>-<pid>-<random>.spool``, one JSON line per record, written with a single
``write()`` on an ``O_APPEND`` descriptor. A ``write()`` that returned is in the kernel's
page cache: it survives ``kill -9`` of the process (not a crash of the machine itself;
see fsync below). Next to each segment, ``<segment>.done`` holds how many of its bytes
are in the database (an optimisation for replay; replay is idempotent by call id anyway).

Ownership: a process holds an exclusive ``flock`` on each segment it owns for as long as
it lives; the kernel drops the lock when the process dies, however it dies. Any process
that can take the lock of a segment it did not create (at start-up, and every few
seconds) adopts it as an orphan and writes what it holds. Segments are created under a
``.tmp`` name, locked, then renamed, so nobody adopts a segment being born.

Rotation: a segment whose records are all in the database is deleted once it is over
``rotate_bytes`` (and its owner moves to a new one); at a clean stop every fully written
segment is deleted, and one that is not stays for the next start to replay.

fsync policy (``spool_fsync``): ``off``: never (survives process crashes and ``kill -9``,
not a power loss or kernel crash); ``interval`` (default): the spend writer fsyncs new
records once a second, off the request path (a power loss loses at most about a second of
records); ``always``: every record is fsynced before the response (one disk flush per
request, on the request path).

A line that cannot be read back (a torn write at the moment of a crash, which was never
acknowledged, or corruption) is handed to the dead-letter file with the reason.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import operator
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from .models import SPEND_COLUMNS, SpendRecord

__all__ = ["Chunk", "Spool", "SpoolError", "decode_record", "encode_record"]

log = logging.getLogger("llmrelay.proxy.keys")

FORMAT = 1
SUFFIX = ".spool"
DONE_SUFFIX = ".done"
DEAD_LETTER = "dead-letter.jsonl"
_START_AT, _END_AT = SPEND_COLUMNS.index("start_time"), SPEND_COLUMNS.index("end_time")
# Fields of the first format-1 records (through ``end_user``); later versions append
# fields, and a shorter line (spooled by an older llmrelay) leaves them at their defaults.
_FIRST_FIELDS = SPEND_COLUMNS.index("end_user") + 1


class SpoolError(OSError):
    """The spool cannot be written (disk full, folder gone)."""


def encode_record(rec: SpendRecord) -> bytes:
    """One spool line: ``[FORMAT, <fields in SPEND_COLUMNS order>]``, times as unix
    seconds, ASCII JSON."""
    values: list[Any] = [FORMAT, *_fields(rec)]
    for at in _TIMES:
        value = values[at]
        if isinstance(value, datetime):
            values[at] = value.timestamp()
    return _json_line(values)


_fields = operator.attrgetter(*SPEND_COLUMNS)
# where the record's datetime fields sit in a spool line (after FORMAT)
_TIMES = tuple(i + 1 for i, f in enumerate(dataclasses.fields(SpendRecord))
               if f.type in ("datetime", datetime))


def _unencodable(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


if c_make_encoder is not None:
    # json.dumps(values, separators=(",", ":")) without a new encoder per line; no
    # circular-reference check (a line is a flat list)
    _encode = c_make_encoder(None, _unencodable, encode_basestring_ascii, None, ":", ",",
                             False, False, True)

    def _json_line(values: list[Any]) -> bytes:
        return "".join(_encode(values, 0)).encode("ascii") + b"\n"
else:  # pragma: no cover - CPython has the C encoder
    def _json_line(values: list[Any]) -> bytes:
        return json.dumps(values, separators=(",", ":")).encode("ascii") + b"\n"


def decode_record(line: bytes) -> SpendRecord:
    """The record of a spool line; ValueError when the line is not one."""
    values = json.loads(line)
    if not isinstance(values, list) or not values or values[0] != FORMAT or not (
            _FIRST_FIELDS < len(values) <= len(SPEND_COLUMNS) + 1):
        raise ValueError("not a spool record of format 1")
    data = dict(zip(SPEND_COLUMNS, values[1:], strict=False))
    for at in (_START_AT, _END_AT):
        name = SPEND_COLUMNS[at]
        data[name] = datetime.fromtimestamp(float(data[name]), timezone.utc)
    if not isinstance(data["call_id"], str):
        raise ValueError("a spool record without a call id")
    return SpendRecord(**data)


@dataclass
class Chunk:
    """Whole lines ``[start, end)`` of one segment, read for one database batch."""

    segment: _Segment
    start: int
    end: int
    lines: list[bytes]


class _Segment:
    """One segment file, owned (locked) by this process."""

    def __init__(self, path: str, lock_fd: int, size: int, done: int, own: bool) -> None:
        self.path = path
        self.lock_fd = lock_fd  # the append descriptor for our own current segment
        self.read_fd = os.open(path, os.O_RDONLY)
        self.size = size
        self.read_at = done
        self.done_at = done
        self.own = own  # created by this process (else adopted)
        self.sealed = not own  # nothing more will be appended
        self.done_fd: int | None = None

    def mark_done(self, offset: int) -> None:
        self.done_at = offset
        if self.done_fd is None:
            self.done_fd = os.open(self.path + DONE_SUFFIX, os.O_WRONLY | os.O_CREAT, 0o600)
        os.pwrite(self.done_fd, b"%020d\n" % offset, 0)

    def close(self, delete: bool) -> None:
        for fd in (self.read_fd, self.done_fd):
            if fd is not None:
                os.close(fd)
        self.done_fd = None
        if delete:
            for path in (self.path, self.path + DONE_SUFFIX):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        os.close(self.lock_fd)  # releases the flock (after the unlink: nobody adopts it)


class Spool:
    """This process's segments of the spool folder; see the module docstring. ``append``
    may be called from any thread; the reading side (``read``/``done``/``adopt``) from
    one task at a time (the spend writer's)."""

    def __init__(self, folder: str, *, fsync: str = "interval",
                 max_bytes: int = 1024 * 1024 * 1024, rotate_bytes: int = 8 * 1024 * 1024,
                 read_bytes: int = 1024 * 1024) -> None:
        if fsync not in ("off", "interval", "always"):
            raise ValueError(f"spool fsync policy {fsync!r}: use off, interval or always")
        self.folder = os.path.abspath(folder)
        self.fsync = fsync
        self.max_bytes = max_bytes
        self.rotate_bytes = rotate_bytes
        self.read_bytes = read_bytes
        self.appended = 0
        self.adopted = 0
        self.torn = 0
        self._segments: list[_Segment] = []  # adopted first, then ours (current last)
        self._current: _Segment | None = None
        self._lock = threading.Lock()
        self._dirty = False
        self._folder_bytes = 0
        self.closed = False

    # -- set-up ------------------------------------------------------------------------
    def open(self) -> None:
        """Create the folder and this process's first segment. Raises SpoolError."""
        try:
            os.makedirs(self.folder, exist_ok=True)
            self._current = self._new_segment()
        except OSError as exc:
            raise SpoolError(exc.errno, f"cannot open the spend spool in {self.folder}: "
                             f"{exc.strerror or exc}") from exc
        self._segments.append(self._current)
        self.measure()

    def _new_segment(self) -> _Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        tmp = os.path.join(self.folder, name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = os.path.join(self.folder, name + SUFFIX)
        os.rename(tmp, path)
        return _Segment(path, fd, 0, 0, own=True)

    def adopt(self) -> list[_Segment]:
        """Take over the segments of processes that are gone (their lock is free);
        returns the segments adopted (their records still to be written)."""
        if self.closed:
            return []
        mine = {seg.path for seg in self._segments}
        found: list[_Segment] = []
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return found
        for name in names:
            path = os.path.join(self.folder, name)
            if name.endswith(SUFFIX) and path not in mine:
                seg = self._try_adopt(path)
                if seg is not None:
                    found.append(seg)
            elif name.endswith(".tmp") or name.endswith(DONE_SUFFIX):
                self._sweep(path, name)
        if found:
            with self._lock:
                self._segments[:0] = found  # before ours: older records first
            self.adopted += len(found)
        return found

    def _try_adopt(self, path: str) -> _Segment | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None  # its owner finished and deleted it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            size = os.fstat(fd).st_size
            if not os.path.exists(path):  # deleted between open and lock: done already
                os.close(fd)
                return None
        except OSError:
            os.close(fd)
            return None  # alive: its owner holds the lock
        done = _read_done(path + DONE_SUFFIX, size)
        seg = _Segment(path, fd, size, done, own=False)
        log.warning("llmrelay spend spool: adopted %s (%d bytes not yet in the database) "
                    "from a process that is gone", os.path.basename(path), size - done)
        return seg

    def _sweep(self, path: str, name: str) -> None:
        """Remove a ``.done`` file without its segment, or an abandoned ``.tmp`` one."""
        if name.endswith(DONE_SUFFIX):
            if not os.path.exists(path[: -len(DONE_SUFFIX)]):
                try:
                    os.unlink(path)
                except OSError:
                    pass
            return
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)  # a creator that died before renaming it: empty
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- the request path ----------------------------------------------------------------
    def append(self, line: bytes) -> None:
        """Append one record line (one ``write()``; fsync when the policy is ``always``).
        Raises SpoolError when it cannot be written."""
        with self._lock:
            seg = self._current
            if seg is None or self.closed:
                raise SpoolError(0, "the spend spool is closed")
            try:
                written = os.write(seg.lock_fd, line)
                while written < len(line):  # only on a full disk or a signal
                    written += os.write(seg.lock_fd, line[written:])
                if self.fsync == "always":
                    os.fdatasync(seg.lock_fd)
            except OSError as exc:
                raise SpoolError(exc.errno, f"writing the spend spool {seg.path}: "
                                 f"{exc.strerror or exc}") from exc
            seg.size += len(line)
            self.appended += 1
            self._dirty = True

    @property
    def full(self) -> bool:
        """True when the folder's segments hold ``max_bytes`` or more not yet in the
        database (as last measured)."""
        return self._folder_bytes >= self.max_bytes

    # -- the writer's side -------------------------------------------------------------------
    def read(self, max_records: int) -> Chunk | None:
        """The next whole lines not handed out yet (at most ``max_records``), or None."""
        for seg in list(self._segments):
            with self._lock:
                size = seg.size
            if seg.read_at >= size:
                self._maybe_retire(seg)
                continue
            data = os.pread(seg.read_fd, min(size - seg.read_at, self.read_bytes),
                            seg.read_at)
            end = data.rfind(b"\n") + 1
            if end == 0:
                if seg.sealed and len(data) == size - seg.read_at:
                    self._torn(seg, size)  # a tail never completed: its owner died in write()
                    continue
                if len(data) < self.read_bytes:
                    continue
                end = len(data)  # one line longer than read_bytes: take it whole
                data += self._read_rest_of_line(seg, seg.read_at + end)
                end = len(data)
            lines = data[:end].splitlines()[:max_records]
            length = sum(len(line) + 1 for line in lines)
            chunk = Chunk(seg, seg.read_at, seg.read_at + length, lines)
            seg.read_at = chunk.end
            return chunk
        return None

    def _read_rest_of_line(self, seg: _Segment, offset: int) -> bytes:
        out = b""
        while True:
            part = os.pread(seg.read_fd, self.read_bytes, offset + len(out))
            if not part:
                return out
            cut = part.find(b"\n")
            if cut >= 0:
                return out + part[: cut + 1]
            out += part

    def _torn(self, seg: _Segment, size: int) -> None:
        self.torn += 1
        log.warning("llmrelay spend spool: %s ends with %d bytes of an unfinished record "
                    "(its process died while writing it; that request was never answered)",
                    os.path.basename(seg.path), size - seg.read_at)
        seg.read_at = size
        seg.mark_done(size)
        self._maybe_retire(seg)

    def rewind(self, chunk: Chunk) -> None:
        """Hand ``chunk``'s lines out again (it was not written)."""
        chunk.segment.read_at = min(chunk.segment.read_at, chunk.start)

    def done(self, chunk: Chunk) -> None:
        """Every line of ``chunk`` is in the database (or dead-lettered)."""
        seg = chunk.segment
        seg.mark_done(max(seg.done_at, chunk.end))
        self._maybe_retire(seg)

    def _maybe_retire(self, seg: _Segment) -> None:
        """Delete a fully written segment that will get no more lines (a sealed one, or
        our current one once over ``rotate_bytes``: a new current one takes over)."""
        with self._lock:
            if seg.done_at < seg.size or seg.read_at < seg.size:
                return
            if seg is self._current:
                if seg.size < self.rotate_bytes or self.closed:
                    return
                try:
                    self._current = self._new_segment()
                except OSError as exc:
                    log.warning("llmrelay spend spool: cannot start a new segment (%s); "
                                "still appending to %s", exc, seg.path)
                    return
                self._segments.append(self._current)
            self._segments.remove(seg)
        seg.close(delete=True)

    def sync(self) -> None:
        """fsync what was appended since the last call (policy ``interval``)."""
        if self.fsync != "interval" or not self._dirty:
            return
        with self._lock:
            seg, self._dirty = self._current, False
            fd = seg.lock_fd if seg is not None else None
            if fd is not None:
                os.fdatasync(fd)

    def measure(self) -> int:
        """Bytes not yet in the database in every segment of the folder (every process's,
        per their ``.done`` files); kept for ``full``."""
        total = self.pending_bytes + sum(size - done for size, done
                                         in self.others_pending().values())
        self._folder_bytes = total
        return total

    @property
    def folder_bytes(self) -> int:
        return self._folder_bytes

    @property
    def pending_bytes(self) -> int:
        """Bytes of this process's segments (own and adopted) not yet in the database."""
        return sum(seg.size - seg.done_at for seg in list(self._segments))

    def pending_lines(self, segments: list[_Segment] | None = None) -> list[bytes]:
        """Every line of ``segments`` (default: all of this process's) not yet in the
        database."""
        out: list[bytes] = []
        for seg in list(self._segments) if segments is None else segments:
            with self._lock:
                size = seg.size
            if size > seg.done_at:
                data = os.pread(seg.read_fd, size - seg.done_at, seg.done_at)
                out.extend(data[: data.rfind(b"\n") + 1].splitlines())
        return out

    def others_pending(self) -> dict[str, tuple[int, int]]:
        """``{segment: (size, bytes written)}`` for the other processes' segments in the
        folder that hold records not yet in the database (per their ``.done`` files)."""
        mine = {seg.path for seg in list(self._segments)}
        out: dict[str, tuple[int, int]] = {}
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    if not entry.name.endswith(SUFFIX) or entry.path in mine:
                        continue
                    try:
                        size = entry.stat().st_size
                    except OSError:
                        continue
                    done = _read_done(entry.path + DONE_SUFFIX, size)
                    if done < size:
                        out[entry.path] = (size, done)
        except OSError:
            pass
        return out

    def snapshot(self) -> dict[str, int]:
        """``{segment: size}`` of every segment in the folder (every process's) holding
        records not yet in the database, as of now; see :meth:`caught_up`."""
        out = {seg.path: seg.size for seg in list(self._segments) if seg.done_at < seg.size}
        out.update({path: size for path, (size, _) in self.others_pending().items()})
        return out

    def caught_up(self, snapshot: dict[str, int]) -> int:
        """Bytes of ``snapshot`` not yet in the database (0: every record spooled when it
        was taken is written, or dead-lettered)."""
        mine = {seg.path: seg for seg in list(self._segments)}
        left = 0
        for path, size in snapshot.items():
            seg = mine.get(path)
            if seg is not None:
                done = seg.done_at
            elif not os.path.exists(path):
                continue  # fully written and deleted
            else:
                done = _read_done(path + DONE_SUFFIX, size)
            left += max(size - done, 0)
        return left

    def close(self) -> int:
        """Release this process's segments: fully written ones are deleted, the others
        stay for the next start (or another worker) to replay. Returns the bytes left."""
        with self._lock:
            self.closed = True
            segments, self._segments, self._current = self._segments, [], None
        left = 0
        for seg in segments:
            rest = seg.size - seg.done_at
            left += rest
            seg.close(delete=rest == 0)
        return left

    def dead_letter(self, record: dict[str, Any], reason: str) -> str:
        """Append ``record`` with ``reason`` to the folder's dead-letter file (shared by
        every process); returns its path."""
        path = os.path.join(self.folder, DEAD_LETTER)
        entry = {"at": datetime.now(timezone.utc).isoformat(), "reason": reason,
                 "record": record}
        line = json.dumps(entry, separators=(",", ":"), default=str).encode("ascii") + b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return path


def _read_done(path: str, size: int) -> int:
    """The offset a segment's ``.done`` file names (0 when absent or unreadable)."""
    try:
        with open(path, "rb") as f:
            value = int(f.read(32).strip() or b"0")
    except (OSError, ValueError):
        return 0
    return value if 0 <= value <= size else 0
