"""A console "network": type lines as a chat user would, see the bot's answers.

For trying the bot with no network at all. `/nick bob` lets another person speak (bob is
someone else, not alice renamed), `/me waves` sends an action, `/quit` (or end of input) stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from meetbot.adapters.base import Submit
from meetbot.clock import Clock
from meetbot.events import Identity, LineKind, MessageIn, Outbound, RoomRef, Say, SetTopic

CONSOLE_HELP = (
    "Type chat lines (e.g. #startmeeting demo). /nick NAME switches speaker, /me TEXT acts, /quit ends."
)


class ConsoleAdapter:
    def __init__(
        self,
        lines: AsyncIterator[str],
        write: Callable[[str], None],
        clock: Clock,
        *,
        channel: str = "#meetbot-test",
        nick: str = "alice",
        network: str = "console",
        bot_nick: str = "meetbot",
    ) -> None:
        self.network = network
        self.bot_nick = bot_nick
        self.room = RoomRef(network, channel)
        self.nick = nick
        self._lines = lines
        self._write = write
        self._clock = clock

    async def run(self, submit: Submit) -> None:
        async for raw in self._lines:
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            if text.startswith("/"):
                if not self._console_command(text, submit):
                    return
                continue
            submit(self._message(text, LineKind.SAY))

    def _console_command(self, text: str, submit: Submit) -> bool:
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if word == "/quit":
            return False
        if word == "/nick" and rest and " " not in rest:
            # Another person takes the keyboard: not a rename, so alice's chair stays hers.
            self.nick = rest
            self._write(f"-- you are now {rest}")
        elif word == "/me" and rest:
            submit(self._message(rest, LineKind.ACTION))
        else:
            self._write(f"-- {CONSOLE_HELP}")
        return True

    def _message(self, text: str, kind: LineKind) -> MessageIn:
        return MessageIn(
            room=self.room,
            sender=Identity(self.network, self.nick),
            text=text,
            at=self._clock.now(),
            kind=kind,
        )

    def members(self, room: RoomRef) -> Sequence[Identity]:
        return ()  # everyone at a console is whoever types next

    async def send(self, message: Outbound) -> None:
        if isinstance(message, Say):
            self._write(f"<{self.bot_nick}> {message.text}")
        elif isinstance(message, SetTopic):
            self._write(f"-- {self.bot_nick} sets the topic of {message.room.room} to: {message.topic}")
