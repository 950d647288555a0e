"""The serve protocol's transport wrapper: one loop turn's writes leave in one send()."""

from __future__ import annotations

import asyncio
from typing import Any

from llmrelay.proxy.protocol import _CoalescingTransport


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.extra = {"peername": ("127.0.0.1", 1)}

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)


async def test_writes_of_one_turn_leave_together_in_order() -> None:
    real = FakeTransport()
    t = _CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    t.write(b"data: 1\n\n")
    assert real.sent == [] and t.get_write_buffer_size() == 28
    await asyncio.sleep(0)
    assert real.sent == [b"HTTP/1.1 200 OK\r\n\r\ndata: 1\n\n"]
    t.write(b"data: 2\n\n")  # a later turn: a later send
    await asyncio.sleep(0)
    assert real.sent[1:] == [b"data: 2\n\n"]
    assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the transport's


async def test_close_sends_what_is_held_first() -> None:
    real = FakeTransport()
    t = _CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    t.close()
    assert real.sent == [b"HTTP/1.1 408 Request Timeout\r\n\r\n"] and real.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert len(real.sent) == 1
