"""JSONL file logger (name ``jsonl``): one standard payload per line, rotated by size.

    llmrelay.callbacks = ["jsonl"]                      # path from LLMRELAY_JSONL_PATH
    llmrelay.callbacks = [JsonlLogger("/var/log/llm.jsonl", max_bytes=50_000_000)]

Safe with several processes writing the same file: the file is opened with ``O_APPEND`` and
each line goes out in a single ``write``, so lines never interleave. Each line is written
under a shared ``flock`` on ``<path>.lock`` and rotation takes it exclusively, so no process
writes while another rotates: a process whose file was rotated away reopens ``path`` before
its next line and no line lands in a file that rotation is about to delete. A file can pass
``max_bytes`` by the lines that processes were appending at the same moment (and a single
line bigger than ``max_bytes`` gets a file of its own). Rotation renames ``path`` -> ``path.1`` ->
``path.2`` ... keeping ``backup_count`` old files (``backup_count=0`` never rotates). (Without
``fcntl``, on Windows, rotation is only safe within one process.)

Lines are written by the dispatcher on this logger's own worker thread, never on the caller's
path. Prompts and completions are already redacted when ``turn_off_message_logging`` is on.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from .custom_logger import CustomLogger
from .registry import IntegrationError

try:
    import fcntl
except ImportError:  # Windows: rotation is then only safe within one process
    fcntl = None  # type: ignore[assignment]

__all__ = ["JsonlLogger"]

PATH_ENV = "LLMRELAY_JSONL_PATH"
DEFAULT_PATH = "llmrelay-events.jsonl"
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class JsonlLogger(CustomLogger):
    """Appends ``kwargs["standard_logging_object"]`` of every finished call to ``path``.

    ``path`` defaults to ``$LLMRELAY_JSONL_PATH``, else ``./llmrelay-events.jsonl``. Raises
    :class:`~llmrelay.integrations.registry.IntegrationError` at registration when the file
    cannot be opened for appending.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 max_bytes: int = 100 * 1024 * 1024, backup_count: int = 5,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = os.path.abspath(os.fspath(path or os.environ.get(PATH_ENV) or DEFAULT_PATH))
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ino: int | None = None
        self._lock_fd: int | None = None
        self._pid = os.getpid()
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._open()
        except OSError as exc:
            raise IntegrationError(f"the jsonl logger cannot append to {self.path}: {exc} "
                                   f"(set {PATH_ENV} or pass JsonlLogger(path=...))") from exc

    # ---- hooks (sync: file I/O runs on this logger's worker thread) ----------------------
    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._log(kwargs)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._log(kwargs)

    def _log(self, kwargs: Any) -> None:
        payload = kwargs.get("standard_logging_object") if isinstance(kwargs, dict) else None
        if payload is not None:
            self.write(payload)

    # ---- writing ---------------------------------------------------------------------------
    def write(self, record: Any) -> None:
        """Append one JSON line (rotating first when it would pass ``max_bytes``)."""
        data = (json.dumps(record, separators=(",", ":"), default=str, ensure_ascii=False)
                + "\n").encode("utf-8")
        rotating = self.backup_count > 0 and self.max_bytes > 0
        with self._lock:
            if os.getpid() != self._pid:  # forked: our own lock (flock follows the fd)
                self._after_fork()
            lock_fd = self._flock(fcntl.LOCK_SH) if rotating and fcntl is not None else None
            try:
                fd = self._current_fd()
                if rotating and self._too_big(fd, len(data)):
                    if lock_fd is not None:
                        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # wait for the other writers
                    fd = self._current_fd()  # someone may have rotated meanwhile
                    if self._too_big(fd, len(data)):
                        self._rotate()
                        fd = self._current_fd()
                view = memoryview(data)
                while view:  # one write for a line unless the disk refuses part of it
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                if lock_fd is not None:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)

    def _open(self) -> None:
        fd = os.open(self.path, _FLAGS, 0o644)
        old, self._fd = self._fd, fd
        self._ino = os.fstat(fd).st_ino
        if old is not None:
            os.close(old)

    def _current_fd(self) -> int:
        """Our descriptor, reopened if another process rotated the file away from it."""
        try:
            if self._fd is None or os.stat(self.path).st_ino != self._ino:
                self._open()
        except FileNotFoundError:
            self._open()
        assert self._fd is not None
        return self._fd

    def _too_big(self, fd: int, incoming: int) -> bool:
        size = os.fstat(fd).st_size
        return bool(size) and size + incoming > self.max_bytes

    def _flock(self, mode: int) -> int:
        if self._lock_fd is None:
            self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT
                                    | getattr(os, "O_CLOEXEC", 0), 0o644)
        fcntl.flock(self._lock_fd, mode)
        return self._lock_fd

    def _after_fork(self) -> None:
        self._pid = os.getpid()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # shared with the parent: its lock would be ours too
            self._lock_fd = None

    def _rotate(self) -> None:
        """Shift the backups and move ``path`` to ``path.1`` (the exclusive lock is held)."""
        for i in range(self.backup_count - 1, 0, -1):
            src = f"{self.path}.{i}"
            if os.path.exists(src):
                os.replace(src, f"{self.path}.{i + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._open()

    def close(self, timeout: float | None = None) -> bool:
        """Close the file; a later event reopens it."""
        with self._lock:
            for attr in ("_fd", "_lock_fd"):
                fd = getattr(self, attr)
                if fd is not None:
                    os.close(fd)
                    setattr(self, attr, None)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Lines are written unbuffered: nothing to do once ``llmrelay.flush()`` returned."""
        return True
