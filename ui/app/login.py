"""The app's admin login: credentials compared in constant time, wrong passwords rate-limited per
client with a growing wait, sessions that expire, and logout.

A session is a random token kept here, server-side; the browser's Gradio state holds only the
token, and the API cannot reach the admin functions at all (they are private events).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["AdminLogin", "LoginResult"]

FREE_TRIES = 5  # wrong passwords per client before the waits begin
MAX_WAIT_S = 900.0
SESSION_S = 3600.0


@dataclass(frozen=True)
class LoginResult:
    token: str  # "" when refused
    message: str  # Chinese, for the login form
    wait_s: float = 0.0


@dataclass
class AdminLogin:
    """One admin account; ``clock`` is passed in so tests need not wait."""

    user: str
    password: str
    session_s: float = SESSION_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)  # client -> (count, locked until)
    _sessions: dict[str, float] = field(default_factory=dict)  # token -> expires at
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self, user: str, password: str, client: str) -> LoginResult:
        now = self.clock()
        with self._lock:
            count, until = self._failures.get(client, (0, 0.0))
            if until > now:
                wait = until - now
                return LoginResult("", f"尝试次数过多，请 {wait:.0f} 秒后再试。", wait)
        # both compared, always, in constant time: no early exit tells which one was wrong
        ok = hmac.compare_digest((user or "").encode(), self.user.encode()) & hmac.compare_digest(
            (password or "").encode(), self.password.encode())
        with self._lock:
            if not ok:
                count += 1
                wait = min(MAX_WAIT_S, 2.0 ** (count - FREE_TRIES)) if count >= FREE_TRIES else 0.0
                self._failures[client] = (count, now + wait)
                left = max(FREE_TRIES - count, 0)
                return LoginResult("", "用户名或密码不对。" + (f"还可再试 {left} 次。" if left else f"请 {wait:.0f} 秒后再试。"), wait)
            self._failures.pop(client, None)
            self._sessions = {t: e for t, e in self._sessions.items() if e > now}  # forget expired ones
            token = secrets.token_urlsafe(32)
            self._sessions[token] = now + self.session_s
            return LoginResult(token, "已登录。")

    def valid(self, token: object) -> bool:
        if not isinstance(token, str) or not token:
            return False
        with self._lock:
            expires = self._sessions.get(token)
            if expires is None:
                return False
            if expires <= self.clock():
                del self._sessions[token]
                return False
            return True

    def logout(self, token: object) -> None:
        with self._lock:
            if isinstance(token, str):
                self._sessions.pop(token, None)
