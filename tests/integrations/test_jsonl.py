"""The JSONL file logger: one payload per line, size rotation, several writing processes."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import finish, start_python

import llmrelay
from llmrelay.integrations.jsonl import JsonlLogger
from llmrelay.integrations.registry import IntegrationError, get_integration

fcntl = pytest.importorskip("fcntl")

SECRET = "the secret prompt 4410"
MSGS = [{"role": "user", "content": SECRET}]


def _lines(*paths: Path) -> list[dict[str, Any]]:
    out = []
    for p in paths:
        if p.exists():
            out.extend(json.loads(line) for line in p.read_text().splitlines())
    return out


def test_one_payload_per_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    llmrelay.callbacks = [JsonlLogger(path)]
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok",
                            metadata={"k": 1})
    with pytest.raises(llmrelay.BadRequestError):
        llmrelay.completion(model="gpt-4o-mini", messages=MSGS,
                            mock_response=llmrelay.BadRequestError("nope"))
    assert llmrelay.flush(5)
    ok, failed = _lines(path)
    assert ok["id"] == r._hidden_params["litellm_call_id"] and ok["status"] == "success"
    assert ok["metadata"] == {"k": 1} and ok["messages"] == MSGS
    assert failed["status"] == "failure" and failed["error_class"] == "BadRequestError"


async def test_async_calls(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    llmrelay.callbacks = [JsonlLogger(path)]
    r = await llmrelay.acompletion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert await llmrelay.aflush(5)
    assert [x["id"] for x in _lines(path)] == [r._hidden_params["litellm_call_id"]]


def test_rotates_by_size_keeping_backup_count(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    logger = JsonlLogger(path, max_bytes=4000, backup_count=2)
    for i in range(30):
        logger.write({"i": i, "pad": "x" * 300})
    files = [path, Path(f"{path}.1"), Path(f"{path}.2")]
    assert all(p.exists() for p in files)
    assert not Path(f"{path}.3").exists()
    assert all(p.stat().st_size <= 4000 for p in files)
    kept = [x["i"] for x in _lines(files[2], files[1], files[0])]
    assert kept == list(range(30 - len(kept), 30))  # oldest first, no gaps, newest last


def test_reopens_after_the_file_was_moved_away(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    logger = JsonlLogger(path)
    logger.write({"n": 1})
    path.rename(tmp_path / "moved.jsonl")  # external rotation (logrotate) or deletion
    logger.write({"n": 2})
    assert _lines(path) == [{"n": 2}] and _lines(tmp_path / "moved.jsonl") == [{"n": 1}]


def test_several_processes_append_and_rotate_safely(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    code = f"""
        import os, llmrelay
        from llmrelay.integrations.jsonl import JsonlLogger
        llmrelay.callbacks = [JsonlLogger({str(path)!r}, max_bytes=30000, backup_count=100)]
        for i in range(40):
            llmrelay.completion(model="gpt-4o-mini", messages=[{{"role": "user",
                                "content": "x" * 200}}], mock_response="y" * 200,
                                metadata={{"pid": os.getpid(), "i": i}})
        assert llmrelay.flush(10)
    """
    procs = [start_python(code) for _ in range(3)]
    for p in procs:
        finish(p)
    files = sorted(tmp_path.glob("shared.jsonl*"))
    assert len([f for f in files if not f.name.endswith(".lock")]) > 2  # it did rotate
    records = _lines(*[f for f in files if not f.name.endswith(".lock")])
    assert len(records) == 120  # every line parses: none torn, none interleaved
    assert len({r["id"] for r in records}) == 120
    per_pid: dict[int, list[int]] = {}
    for r in records:
        per_pid.setdefault(r["metadata"]["pid"], []).append(r["metadata"]["i"])
    assert len(per_pid) == 3 and all(sorted(v) == list(range(40)) for v in per_pid.values())


@pytest.mark.parametrize("how", ["global", "per_call", "per_logger"])
def test_redaction_holds(tmp_path: Path, how: str) -> None:
    path = tmp_path / "events.jsonl"
    llmrelay.callbacks = [JsonlLogger(path, turn_off_message_logging=how == "per_logger")]
    extra: dict[str, Any] = {}
    if how == "global":
        llmrelay.turn_off_message_logging = True
    elif how == "per_call":
        extra["turn_off_message_logging"] = True
    r = llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="secret answer 9",
                            **extra)
    assert llmrelay.flush(5)
    text = path.read_text()
    assert text.count("\n") == 1 and r._hidden_params["litellm_call_id"] in text
    assert SECRET not in text and "secret answer 9" not in text


def test_no_line_is_written_while_another_process_rotates(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    logger = JsonlLogger(path, max_bytes=10_000, backup_count=3)
    logger.write({"n": 0})
    lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # another process is rotating
        writer = threading.Thread(target=logger.write, args=({"n": 1},))
        writer.start()
        writer.join(0.3)
        assert writer.is_alive()  # waiting for the rotation to finish
        os.replace(path, f"{path}.1")  # the other process's rotation
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        writer.join(10)
    finally:
        os.close(lock_fd)
    # The line went to the new file, not to the one that was being rotated away.
    assert _lines(Path(f"{path}.1")) == [{"n": 0}] and _lines(path) == [{"n": 1}]


def test_by_name_with_path_from_environment(tmp_path: Path, builtin: Callable[..., None],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    builtin("jsonl")
    path = tmp_path / "sub" / "env.jsonl"
    monkeypatch.setenv("LLMRELAY_JSONL_PATH", str(path))
    llmrelay.callbacks = ["jsonl"]
    assert get_integration("jsonl").path == str(path)
    llmrelay.completion(model="gpt-4o-mini", messages=MSGS, mock_response="ok")
    assert llmrelay.flush(5)
    assert len(_lines(path)) == 1


def test_unwritable_path_raises_at_registration(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(IntegrationError, match="cannot append"):
        JsonlLogger(blocker / "events.jsonl")
