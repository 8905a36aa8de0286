"""``--auth`` that slows down guessing: each wrong password makes the next answer wait longer.

Gradio checks the password in an async route, so the wait is an ``asyncio.sleep``: a guesser waits, the
server does not. The delay doubles with each consecutive failure (for any user name, since a guesser can
vary it), up to :data:`MAX_DELAY_S`, and a right password resets it.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import Mapping

MAX_DELAY_S = 30.0


class SlowLogin:
    """An ``auth`` callable for ``demo.launch``: the right user name and password, or a growing wait."""

    def __init__(self, users: Mapping[str, str], base_delay_s: float = 1.0) -> None:
        self._users = dict(users)
        self.base_delay_s = base_delay_s
        self._failures = 0
        self._lock = threading.Lock()

    def delay_s(self) -> float:
        """The wait before answering the next wrong password."""
        with self._lock:
            failures = self._failures
        return 0.0 if failures == 0 else min(MAX_DELAY_S, self.base_delay_s * 2 ** (failures - 1))

    def matches(self, username: str, password: str) -> bool:
        expected = self._users.get(username)
        # compare_digest against a dummy too: the time taken does not tell whether the user exists
        return hmac.compare_digest((expected or "\0").encode(), password.encode()) and expected is not None

    def auth(self):
        """The coroutine function Gradio calls. Gradio awaits ``auth`` only when
        ``inspect.iscoroutinefunction`` says so, which is False for an object with an async ``__call__``
        (its coroutine would then count as a yes), hence a plain async function."""

        async def check(username: str, password: str) -> bool:
            return await self.check(username, password)

        return check

    async def check(self, username: str, password: str) -> bool:
        if self.matches(username, password):
            with self._lock:
                self._failures = 0
            return True
        with self._lock:
            self._failures += 1
        await asyncio.sleep(self.delay_s())
        return False
