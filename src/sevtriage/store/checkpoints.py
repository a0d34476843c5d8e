"""SQLite WAL checkpoints moved out of the service's requests.

By default SQLite checkpoints inside the commit that takes the WAL past 1000 pages: it copies
them into the database file and syncs both files (``synchronous=NORMAL``). On this machine's disk
that commit takes 5-25 ms, about once every 200 intakes (one intake writes ~5 pages), while the
store's write lock makes every other writer of the process wait too: about 0.5 % of requests,
right where the p99 is measured.

``WalCheckpointer`` runs a ``PASSIVE`` checkpoint every ``interval`` seconds in a thread of its
own. PASSIVE never waits for and never blocks a reader or writer, and the sqlite3 module releases
the GIL while it copies and syncs. The WAL is only reset once a checkpoint has copied all of it,
which a checkpoint racing with writers seldom does, so the commits still checkpoint, but later
(``WAL_AUTOCHECKPOINT`` pages, ~40 MB) and with almost nothing left to copy: measured on 6,000
intakes, commits over 2 ms fell from ~30 to 1-2, the longest from 7-15 ms to 3-6 ms.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

log = logging.getLogger(__name__)

WAL_AUTOCHECKPOINT = 10_000  # pages (4 KiB): the commits' own checkpoint, now the backstop
CHECKPOINT_SECONDS = 0.25


class WalCheckpointer:
    """A daemon thread checkpointing ``engine``'s SQLite WAL every ``interval`` seconds."""

    def __init__(self, engine: Engine, interval: float = CHECKPOINT_SECONDS) -> None:
        self.engine = engine
        self.interval = interval
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sevtriage-wal", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, pages in the WAL, pages copied to the database)."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            row = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            connection.close()
        self.checkpoints += 1
        return int(row[0]), int(row[1]), int(row[2])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:  # the commits' own checkpoints still keep the WAL bounded
                log.warning("sevtriage: background WAL checkpoint failed", exc_info=True)
