"""Misbehaving TCP endpoints for fault tests: one that never answers, one that drops the first
connections and then forwards to a real server."""

from __future__ import annotations

import contextlib
import socket
import threading


class _Listener:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            self._open.append(conn)
            self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()
        for conn in self._open:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SilentEndpoint(_Listener):
    """Accepts every connection and never sends a byte."""

    def handle(self, conn: socket.socket) -> None:
        pass


class FlakyProxy(_Listener):
    """Closes the first `drop` connections at once, then forwards to `target` (host, port)."""

    def __init__(self, target: tuple[str, int], drop: int) -> None:
        self.target = target
        self.drop = drop
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        if self.accepted <= self.drop:
            conn.close()
            return
        upstream = socket.create_connection(self.target)
        self._open.append(upstream)
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
