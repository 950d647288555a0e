"""A TCP relay for fault tests: put it between the proxy and PostgreSQL or Redis, then
make the server refuse, vanish silently, or come back.

* :meth:`Relay.refuse`: every open connection is reset and new ones are reset at once (a
  server that is down, or a firewall that rejects).
* :meth:`Relay.blackhole`: bytes stop flowing both ways with no error and no close, for the
  connections already open and for new ones, which are accepted and then ignored (a
  partition, a dead route: the case only timeouts and keepalives can catch).
* :meth:`Relay.heal`: new connections are forwarded again; connections blackholed before
  stay silent forever (their packets were lost, as after a real partition), so a client
  must drop them and open new ones.

The relay runs its own event loop on a thread, so sync and async tests alike can use it;
the methods return once the change is in effect. The listening socket stays open
throughout, so no other process can take the port meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Relay"]


class _Link:
    """One relayed connection (both directions)."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.silent = False  # blackholed: data is read and dropped


class Relay:
    """A TCP relay on 127.0.0.1 (``port``) to ``host``:``port``; see the module docstring."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.mode = "forward"
        self.port = 0
        self.accepted = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(ready,), daemon=True,
                                       name="tcp-relay")
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the TCP relay did not start")

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._relay(reader, writer)
        except asyncio.CancelledError:
            pass  # the relay is closing

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "refuse":
            writer.transport.abort()
            return
        link = _Link(writer)
        self._links.add(link)
        try:
            if self.mode == "blackhole":
                link.silent = True
                await self._drain(reader)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            link.server = up_writer
            await asyncio.gather(self._pump(link, reader, up_writer),
                                 self._pump(link, up_reader, writer))
        finally:
            self._links.discard(link)

    @staticmethod
    async def _drain(reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(65536):
                pass
        except (OSError, asyncio.CancelledError):
            pass

    async def _pump(self, link: _Link, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if link.silent:
                    continue  # lost on the way
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if not link.silent:
                writer.transport.abort()

    def _set(self, mode: str) -> None:
        async def apply() -> None:
            self.mode = mode
            for link in list(self._links):
                if mode == "refuse":
                    link.silent = False
                    for w in (link.client, link.server):
                        if w is not None:
                            w.transport.abort()
                elif mode == "blackhole":
                    link.silent = True
        asyncio.run_coroutine_threadsafe(apply(), self.loop).result(10)

    def refuse(self) -> None:
        self._set("refuse")

    def blackhole(self) -> None:
        self._set("blackhole")

    def heal(self) -> None:
        self._set("forward")

    # the names the older proxy tests use
    cut = refuse
    restore = heal

    def via(self, url: str) -> str:
        """``url`` (``scheme://[user[:password]@]host:port/...``) pointed at this relay."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{self.port}"))

    def close(self) -> None:
        async def stop() -> None:
            for link in list(self._links):
                for w in (link.client, link.server):
                    if w is not None:
                        w.transport.abort()
            if self._server is not None:
                self._server.close()
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
