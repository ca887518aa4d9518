"""The database beside the vector store: one connection in SQLite or PostgreSQL dialect.

The keyword index and the catalogue live in the same database (``NEWSRAG_HOME/keyword.sqlite``
by default, the PostgreSQL of ``NEWSRAG_KEYWORD_URL`` when set) and write the same SQL: each
statement is written once, in SQLite's dialect with ``?`` marks and plain table names, and
the PostgreSQL side prefixes the tables of its collection and swaps the marks.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Database", "SqliteDatabase", "PostgresDatabase", "table_prefix", "in_parts"]


class Database:
    """One connection, writers serialised. Subclasses give the dialect."""

    path: str
    is_postgres = False

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def write(self):
        """One write transaction (a context manager)."""
        raise NotImplementedError

    @contextmanager
    def read(self):
        with self.lock:
            yield self

    def sql(self, sql: str) -> str:
        return sql

    def run(self, sql: str, params: Iterable = ()):
        return self.conn.execute(self.sql(sql), tuple(params))

    def rows(self, sql: str, params: Iterable = ()) -> list:
        return self.run(sql, params).fetchall()

    def one(self, sql: str, params: Iterable = ()):
        return self.run(sql, params).fetchone()

    def many(self, sql: str, rows: list) -> None:
        self.conn.executemany(self.sql(sql), rows)

    def script(self, statements: str) -> None:
        """Run ``;``-separated DDL (CREATE … IF NOT EXISTS) in one transaction."""
        with self.write():
            for stmt in (s.strip() for s in statements.split(";")):
                if stmt:
                    self.run(stmt)

    def close(self) -> None:
        self.conn.close()


class SqliteDatabase(Database):
    """A SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path = ":memory:", conn: sqlite3.Connection | None = None) -> None:
        super().__init__()
        self.path = str(path)
        if conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False)
        self.conn = conn

    @classmethod
    def copy_of(cls, path: str | Path) -> SqliteDatabase:
        """An in-memory copy of the database at ``path``, read without writing to it (for an
        index on a read-only disk: the copy can still be synced and searched)."""
        db = cls(":memory:")
        src = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            src.backup(db.conn)
        finally:
            src.close()
        return db

    @contextmanager
    def write(self):
        with self.lock, self.conn:
            yield self


def in_parts(values: Sequence, size: int = 500) -> Iterator[tuple[list, str]]:
    """``values`` in parts of at most ``size``, each with its ``?`` marks for an ``IN (…)``
    list: within every backend's limit on a statement's parameters."""
    for i in range(0, len(values), size):
        part = list(values[i : i + size])
        yield part, ",".join("?" * len(part))


def table_prefix(collection: str) -> str:
    """The PostgreSQL table prefix of a collection: ``kw_<name>_`` for a short lower-case name
    of ``[a-z0-9_]`` (the default ``newsrag`` included), else its first 30 such characters and
    a hash of the whole name, so that names PostgreSQL would fold together (``News`` and
    ``news``, ``a.b`` and ``a-b``) or cut at 63 bytes keep tables of their own."""
    plain = re.sub(r"[^a-z0-9_]", "_", collection.lower())
    if plain == collection and len(plain) <= 40:
        return f"kw_{plain}_"
    digest = hashlib.blake2b(collection.encode(), digest_size=5).hexdigest()
    return f"kw_{plain[:30]}_{digest}_"


class PostgresDatabase(Database):
    """A PostgreSQL database: the tables of one collection carry its prefix.

    Each read is its own snapshot (autocommit), so a replica sees what another wrote at its
    next read; writers take a transaction-scoped advisory lock of the collection, so two
    writers, on one machine or two, end as one after the other.
    """

    is_postgres = True

    def __init__(self, url: str, collection: str = "newsrag", connect_timeout: int = 10) -> None:
        import psycopg

        super().__init__()
        self.path = url
        self.prefix = table_prefix(collection)
        self.tables: set[str] = set()
        self._pattern: re.Pattern | None = None
        # one advisory lock per collection (a signed 64-bit key from its table prefix)
        self.lock_key = int.from_bytes(hashlib.blake2b(self.prefix.encode(), digest_size=8).digest(), "big") >> 1
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)

    def own(self, *names: str) -> None:
        """Prefix these table (and index) names in every statement."""
        self.tables.update(names)
        self._pattern = re.compile(r"\b(?:" + "|".join(sorted(self.tables, key=len, reverse=True)) + r")\b")

    def sql(self, sql: str) -> str:
        if self._pattern is not None:
            sql = self._pattern.sub(lambda m: self.prefix + m.group(0), sql)
        return sql.replace("?", "%s")

    @contextmanager
    def write(self):
        with self.lock, self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            yield self

    def many(self, sql: str, rows: list) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self.sql(sql), rows)
