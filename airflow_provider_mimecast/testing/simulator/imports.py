"""The simulated imports: each one's pending → processing → completed timeline, and the store that holds them."""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

IMPORTER = "admin@sim.example"


def secure_id() -> str:
    """An ID shaped like Mimecast's secure IDs: long, opaque, url-safe, often starting with ``eNo1``."""
    return "eNo1" + secrets.token_urlsafe(27)


@dataclass
class ImportRecord:
    """One import and the times that decide its status."""

    id: str
    created_at: float
    created_wall: datetime
    total_users: int
    successful_imported_users: int
    group_id: str
    notify_email_address: str | None
    pending_seconds: float
    processing_seconds: float
    clear_group: bool
    allow_address_migration: bool
    pending_checks: int = 0
    checks_answered: int = 0
    source_file: str = field(default_factory=secure_id)
    report_file: str = field(default_factory=secure_id)

    def status_at(self, now: float) -> str:
        if self.checks_answered < self.pending_checks:
            return "pending"
        elapsed = now - self.created_at
        if elapsed < self.pending_seconds:
            return "pending"
        if elapsed < self.pending_seconds + self.processing_seconds:
            return "processing"
        return "completed"

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status_at(now)
        return {
            "id": self.id,
            "status": status,
            "importer": IMPORTER,
            "notifyEmailAddress": self.notify_email_address,
            "created": self.created_wall.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "totalUsers": self.total_users,
            "successfulImportedUsers": self.successful_imported_users if status == "completed" else 0,
            "clearGroup": self.clear_group,
            "allowAddressMigration": self.allow_address_migration,
            "sourceFile": self.source_file,
            "reportFile": self.report_file,
        }


class ImportStore:
    """Every import the simulator knows, safe to use from the server's threads.

    :param pending_seconds: default time an import stays ``pending``.
    :param processing_seconds: default time an import then stays ``processing``.
    :param pending_checks: status checks each import answers ``pending`` whatever its timeline says.
    """

    def __init__(self, pending_seconds: float, processing_seconds: float, pending_checks: int = 0) -> None:
        self.pending_seconds = pending_seconds
        self.processing_seconds = processing_seconds
        self.pending_checks = pending_checks
        self._lock = threading.Lock()
        self._imports: dict[str, ImportRecord] = {}

    def create(
        self,
        *,
        total_users: int,
        successful_imported_users: int | None,
        group_id: str,
        notify_email_address: str | None,
        pending_seconds: float | None,
        processing_seconds: float | None,
        clear_group: bool,
        allow_address_migration: bool,
    ) -> str:
        """Add an import that starts now and return its ID (see ``MimecastSimulator.create_import``)."""
        successful = total_users if successful_imported_users is None else successful_imported_users
        if not 0 <= successful <= total_users:
            raise ValueError("successful_imported_users must be between 0 and total_users")
        record = ImportRecord(
            id=secure_id(),
            created_at=time.monotonic(),
            created_wall=datetime.now(timezone.utc),
            total_users=total_users,
            successful_imported_users=successful,
            group_id=group_id,
            notify_email_address=notify_email_address,
            pending_seconds=self.pending_seconds if pending_seconds is None else pending_seconds,
            processing_seconds=self.processing_seconds if processing_seconds is None else processing_seconds,
            clear_group=clear_group,
            allow_address_migration=allow_address_migration,
            pending_checks=self.pending_checks,
        )
        with self._lock:
            self._imports[record.id] = record
        return record.id

    def phantom(self) -> dict[str, Any]:
        """The JSON of a completed import that is in no store: what an answer carries that nobody asked for."""
        now = time.monotonic()
        record = ImportRecord(
            id=secure_id(),
            created_at=now,
            created_wall=datetime.now(timezone.utc),
            total_users=1,
            successful_imported_users=1,
            group_id="sim-group",
            notify_email_address=None,
            pending_seconds=0.0,
            processing_seconds=0.0,
            clear_group=False,
            allow_address_migration=False,
        )
        return record.to_json(now)

    def complete_after(self, ids: list[str], seconds: float) -> None:
        """Make each of ``ids`` ``completed`` ``seconds`` from now, ``processing`` until then.

        An import already completed stays so; an unknown ID raises ``KeyError`` naming it.
        """
        now = time.monotonic()
        with self._lock:
            unknown = [import_id for import_id in ids if import_id not in self._imports]
            if unknown:
                raise KeyError(f"no import with the ID(s) {unknown}")
            for import_id in ids:
                record = self._imports[import_id]
                elapsed = now - record.created_at
                if record.status_at(now) == "completed":
                    continue
                record.pending_seconds = min(record.pending_seconds, elapsed)
                record.processing_seconds = elapsed + seconds - record.pending_seconds

    def state(self, import_id: str) -> str:
        """The import's status now, without counting a status check."""
        with self._lock:
            return self._imports[import_id].status_at(time.monotonic())

    def ids(self) -> list[str]:
        """Every import's ID, oldest first."""
        with self._lock:
            return list(self._imports)

    def statuses(self, ids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """The current JSON of the known IDs, in order, and the IDs that are unknown."""
        now = time.monotonic()
        found, missing = [], []
        with self._lock:
            for import_id in ids:
                record = self._imports.get(import_id)
                if record is None:
                    missing.append(import_id)
                else:
                    found.append(record.to_json(now))
                    record.checks_answered += 1
        return found, missing


def requested_ids(body: bytes) -> list[str] | None:
    """The import IDs of a get-import-status body, or None when it is not ``{"data": [{"id": ...}]}``."""
    try:
        items = json.loads(body)["data"]
        ids = [item["id"] for item in items]
    except (ValueError, KeyError, TypeError):
        return None
    if not ids or not all(isinstance(id_, str) and id_ for id_ in ids):
        return None
    return ids
