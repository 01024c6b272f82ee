"""The bench's reference bot: answers the driver's probes at once and logs nothing.

    python bench/nullbot.py --port P --nick nullbot --channels-file F --minutes DIR

bench/compare.py runs it like any bot (bench/bots.py, class NullBot) to show the ceiling the
harness itself imposes (InspIRCd, the driver, the machine): whatever a real bot reaches is
bounded by what this one reaches. Stdlib only and independent of meetbot and of the driver's
ircwire.py, so it runs on any Python 3.11 and measures no project code.

It registers, joins every channel of the file, and answers from its read loop, one write per
read chunk:

  `#startmeeting ...`  -> "Meeting started at HH:MM:SS UTC."
  `#agreed` (alone)    -> "Usage: #agreed <decision>"     (the driver's probe, as meetbot's)
  `#endmeeting`        -> writes a small file under --minutes, then
                          "Meeting ended at HH:MM:SS UTC. Minutes: file://..."

Everything else is ignored, and it keeps no meeting state: it is the floor of a bot's work, so
the driver's figures for it are the harness's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import socket
import sys
from pathlib import Path

READ_BUFFER = 1 << 20  # bytes: a read takes all the server has queued, one write answers it
JOIN_CHUNK = 20  # InspIRCd's maxtargets (scripts/ircd/ircd.py): more targets would be dropped


class NullBot(asyncio.BufferedProtocol):
    def __init__(self, nick: str, channels: list[str], minutes: Path, done: asyncio.Future[None]) -> None:
        self.nick = nick
        self.channels = channels
        self.minutes = minutes
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None
        # One preallocated buffer the transport reads into: no per-read allocation, and a read
        # can take up to a MiB of lines at once.
        self.buffer = bytearray(READ_BUFFER)
        self.filled = 0
        self.ended = 0

    # -- asyncio.BufferedProtocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sock = sock = transport.get_extra_info("socket")
        # Nagle would hold a lone reply until the server ACKs the previous write.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.quickack()
        transport.write(f"NICK {self.nick}\r\nUSER {self.nick} 0 * :null bot\r\n".encode())

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.filled == len(self.buffer):
            # A partial line filling the whole buffer: never from IRC (8 KiB lines at most),
            # but growing is cheaper than reasoning about it.
            self.buffer.extend(bytes(len(self.buffer)))
        return memoryview(self.buffer)[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self.quickack()
        self.filled += nbytes
        end = self.buffer.rfind(b"\n", 0, self.filled) + 1
        if not end:
            return
        chunk = bytes(self.buffer[:end])
        rest = self.filled - end
        self.buffer[:rest] = self.buffer[end : self.filled]
        self.filled = rest
        out: list[bytes] = []
        for line in chunk.split(b"\n"):
            if line:
                self.handle(line.rstrip(b"\r"), out)
        if out and self.transport is not None:
            # Every answer to this read in one write: one system call, one TCP segment.
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def quickack(self) -> None:
        """ACK the server's data at once, as meetbot does (adapter.py re-arms it on every read:
        Linux clears it). Without it a bot that reads much and writes nothing delays its ACKs
        ~40 ms, and InspIRCd's Nagle holds the tail of what it sends (the probe) until then: a
        300-line burst took ~44 ms to drain here, meetbot's ~8 ms. A ceiling must not pay that."""
        if self.sock is not None and hasattr(socket, "TCP_QUICKACK"):
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    # -- IRC -------------------------------------------------------------------------------------

    def handle(self, line: bytes, out: list[bytes]) -> None:
        if line.startswith(b"@"):  # message tags: none are requested, but skip them if sent
            line = line.partition(b" ")[2]
        if line.startswith(b"PING"):
            out.append(b"PONG" + line[4:] + b"\r\n")
            return
        if not line.startswith(b":"):
            return
        parts = line.split(b" ", 3)
        if len(parts) < 3:
            return
        command = parts[1]
        if command == b"PRIVMSG" and len(parts) == 4 and parts[2].startswith(b"#"):
            text = parts[3][1:] if parts[3].startswith(b":") else parts[3]
            if text.startswith(b"#"):
                self.command(parts[2], text, out)
        elif command == b"001":
            # Registered: join in comma lists the server accepts whole.
            for i in range(0, len(self.channels), JOIN_CHUNK):
                out.append(f"JOIN {','.join(self.channels[i : i + JOIN_CHUNK])}\r\n".encode())
        elif command == b"433":
            print(f"nullbot: nick {self.nick} in use", file=sys.stderr, flush=True)
            assert self.transport is not None
            self.transport.close()

    def command(self, channel: bytes, text: bytes, out: list[bytes]) -> None:
        word = text.split(b" ", 1)[0].lower()
        if word == b"#agreed":
            if text.strip().lower() == b"#agreed":
                out.append(b"PRIVMSG " + channel + b" :Usage: #agreed <decision>\r\n")
        elif word == b"#startmeeting":
            out.append(b"PRIVMSG " + channel + f" :Meeting started at {_clock()} UTC.\r\n".encode())
        elif word == b"#endmeeting":
            path = self.write_minutes(channel.decode("utf-8", "replace"))
            reply = f" :Meeting ended at {_clock()} UTC. Minutes: file://{path}\r\n"
            out.append(b"PRIVMSG " + channel + reply.encode())

    def write_minutes(self, channel: str) -> Path:
        """A small file: the driver checks that #endmeeting wrote something (published_since)."""
        self.ended += 1
        now = dt.datetime.now(dt.UTC)
        name = "".join(c if c.isalnum() else "_" for c in channel.lstrip("#")) or "channel"
        path = self.minutes / f"{name}.{now:%Y%m%d-%H%M%S}.{self.ended}.txt"
        path.write_text(f"{channel}: meeting ended at {now:%Y-%m-%d %H:%M:%S} UTC; nothing was logged.\n")
        return path


def _clock() -> str:
    return f"{dt.datetime.now(dt.UTC):%H:%M:%S}"


async def main_async(host: str, port: int, nick: str, channels: list[str], minutes: Path) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    await loop.create_connection(lambda: NullBot(nick, channels, minutes, done), host, port)
    await done  # until the server closes the connection, or SIGTERM ends the process


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nick", default="nullbot")
    parser.add_argument("--channels-file", required=True, help="channels to join, one a line")
    parser.add_argument("--minutes", required=True, help="directory for the files #endmeeting writes")
    args = parser.parse_args()
    channels = Path(args.channels_file).read_text().split()
    minutes = Path(args.minutes).resolve()
    minutes.mkdir(parents=True, exist_ok=True)
    asyncio.run(main_async(args.host, args.port, args.nick, channels, minutes))


if __name__ == "__main__":
    main()
