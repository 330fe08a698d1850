"""The simulator's test controls (the knobs a test turns), mixed into :class:`MimecastSimulator`.

Each knob is a small public method over the state the simulator holds: the imports and the directory a test
sets up, and the faults, rate limits, outages, tokens and credentials it imposes on the calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Iterable
from typing import Any

from .auth import Authenticator
from .credentials import SimulatorCredentials
from .directory import Directory, SimulatorGroup
from .endpoints import MimecastApi
from .faults import Fault, FaultQueue
from .imports import ImportStore
from .rate_limits import Bucket, RateLimiter


class SimulatorControls:
    """The test controls of :class:`~.mimecast_simulator.MimecastSimulator`, which sets these attributes."""

    credentials: SimulatorCredentials
    _auth: Authenticator
    _imports: ImportStore
    _directory: Directory
    _api: MimecastApi
    _rates: RateLimiter
    _faults: FaultQueue
    #: (until, status) of an :meth:`unavailable_for` outage.
    _unavailable: tuple[float, int]

    def create_import(
        self,
        *,
        total_users: int = 10,
        successful_imported_users: int | None = None,
        group_id: str = "sim-group",
        notify_email_address: str | None = None,
        pending_seconds: float | None = None,
        processing_seconds: float | None = None,
        clear_group: bool = False,
        allow_address_migration: bool = False,
    ) -> str:
        """Create an import as if it had just been uploaded, and return its ID.

        :param total_users: rows in the imaginary file.
        :param successful_imported_users: users reported once completed; defaults to ``total_users``.
        :param group_id: the profile group the import targets.
        :param notify_email_address: reported back as ``notifyEmailAddress``.
        :param pending_seconds: this import's pending time, instead of the simulator's default.
        :param processing_seconds: this import's processing time, instead of the simulator's default.
        :param clear_group: reported back as ``clearGroup``.
        :param allow_address_migration: reported back as ``allowAddressMigration``.
        """
        return self._imports.create(
            total_users=total_users,
            successful_imported_users=successful_imported_users,
            group_id=group_id,
            notify_email_address=notify_email_address,
            pending_seconds=pending_seconds,
            processing_seconds=processing_seconds,
            clear_group=clear_group,
            allow_address_migration=allow_address_migration,
        )

    def complete_imports(self, import_ids: Collection[str], *, after_seconds: float = 0.0) -> None:
        """Make imports complete ``after_seconds`` from now (``processing`` until then), whatever their
        timeline said: a test that disrupts a long wait decides when the wait may end.

        :param import_ids: IDs of existing imports; an import already completed stays completed.
        :param after_seconds: how long from now until they are ``completed``; 0 completes them at once.
        """
        if after_seconds < 0:
            raise ValueError(f"after_seconds must be 0 or more, got {after_seconds!r}")
        self._imports.complete_after(list(import_ids), after_seconds)

    def add_group(
        self, name: str, *, parent_id: str | None = None, source: str = "cloud", user_count: int = 0
    ) -> str:
        """Add a profile group to the directory that find-groups searches, and return its secure ID.

        A new simulator holds ``Directory Sync``, ``EMEA``, ``Americas`` and a ``Sales`` group in each of the
        last two, unless started with ``demo_groups=False``.

        :param name: the group's name (find-groups' ``description``).
        :param parent_id: the ID of the folder that holds it; None for the top of the directory.
        :param source: ``cloud`` or ``ldap``.
        :param user_count: reported as ``userCount`` until the simulator holds the group's members.
        """
        return self._directory.add(name, parent_id=parent_id, source=source, user_count=user_count)

    def groups(self) -> list[SimulatorGroup]:
        """Every group in the directory, oldest first."""
        return self._directory.groups()

    def add_group_members(self, group_id: str, members: Iterable[Any]) -> int:
        """Make ``members`` members of a group, as if added in the console; returns how many were new.

        :param group_id: the group's secure ID (any ID import-users would accept).
        :param members: addresses, ``(address, name)`` pairs, or dicts as get-group-members answers them.
        """
        return self._api.members.seed(group_id, members)

    def group_members(self, group_id: str) -> list[dict[str, Any]]:
        """The group's members now, as get-group-members answers them (completed imports applied).

        :param group_id: the group's secure ID.
        """
        return self._api.members.members(group_id)

    def revoke(self, *permissions: str) -> None:
        """Take role permissions away from the API user: their endpoints answer 403 until :meth:`grant`.

        :param permissions: e.g. ``"Directories | Groups | Read"`` (get-group-members).
        """
        self._api.revoked.update(permissions)

    def grant(self, *permissions: str) -> None:
        """Give back permissions taken with :meth:`revoke`.

        :param permissions: the permissions' names.
        """
        self._api.revoked.difference_update(permissions)

    def import_ids(self) -> list[str]:
        """IDs of every import that exists, oldest first (uploads and :meth:`create_import` alike)."""
        return self._imports.ids()

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each matching request consumes the oldest matching fault.

        :param faults: the faults, in the order they should fire.
        """
        self._faults.add(faults)

    def rate_limit_for(self, seconds: float) -> None:
        """Answer every API call with 429 for ``seconds`` from now, as when the account's limit is used up.

        Every caller sees the same window: ``X-RateLimit-Reset`` counts down to its end. The token
        endpoint is not limited, and queued faults wait until the window has passed.

        :param seconds: how long the window lasts; 0 ends an open one.
        """
        self._rates.limit_for(seconds)

    def set_rate_limit(self, bucket: Bucket) -> None:
        """Meter every API user's bucket with ``bucket`` from now on, each starting full.

        :param bucket: e.g. ``RECORDED_BUCKET`` (800, one added back every 5,000 ms) or
            ``Bucket(limit=200, refill=4, reset_ms=1000)``.
        """
        self._rates.configure(bucket)

    @property
    def rate_bucket(self) -> Bucket:
        """How each API user's bucket is metered now."""
        return self._rates.bucket

    def rate_remaining(self, auth_type: str = "oauth2") -> int:
        """What the bucket of the current credentials' API user holds now (``X-RateLimit-Remaining`` before
        the next call), without spending any.

        :param auth_type: ``oauth2`` for the client ID's bucket, ``hmac`` for the access key's.
        """
        if auth_type not in ("oauth2", "hmac"):
            raise ValueError(f"auth_type must be 'oauth2' or 'hmac', got {auth_type!r}")
        credentials = self.credentials
        user = f"client:{credentials.client_id}" if auth_type == "oauth2" else f"key:{credentials.access_key}"
        return self._rates.remaining(user)

    def unavailable_for(self, seconds: float, *, status: int = 503) -> None:
        """Answer every call, the token endpoint included, with a 5xx for ``seconds`` from now, as during an
        outage that a load balancer in front of Mimecast reports. Unlike :meth:`stop`, the calls are
        still counted. Queued faults wait until it has passed.

        :param seconds: how long the outage lasts; 0 ends an open one.
        :param status: the HTTP status answered, 500 to 599.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number of seconds, not below 0; got {seconds!r}")
        if not 500 <= status <= 599:
            raise ValueError(f"status must be from 500 to 599; got {status}")
        self._unavailable = (time.monotonic() + seconds, status)

    def expire_tokens(self) -> None:
        """Make every bearer token issued so far answer ``token_expired``."""
        self._auth.expire_tokens()

    def forget_tokens(self) -> None:
        """Forget every bearer token issued so far, as a restarted Mimecast would: they answer 401
        ``invalid_token``."""
        self._auth.forget_tokens()

    def set_credentials(self, credentials: SimulatorCredentials) -> None:
        """Accept ``credentials`` from now on instead of the current ones, as after a secret rotation in the
        Mimecast console. Tokens already issued stay valid until they expire.

        :param credentials: the new credentials (e.g. ``dataclasses.replace(sim.credentials,
            client_secret="...")``).
        """
        self.credentials = credentials
        self._auth.credentials = credentials
