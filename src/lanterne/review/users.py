"""Users of a case, their roles and what each role may do.

Roles (checked server side by the web application with :func:`can`):

=============  =====================================================================
``auditor``    sees the case's metadata and reads the audit log; never sees material
               (no reveal) and never categorises
``reviewer``   views, reveals one item at a time, categorises, asks a second opinion
``examiner``   what a reviewer does, and exports
``supervisor`` everything: resolves second-opinion flags, manages users, reads the audit
=============  =====================================================================

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile); a
hash made with older parameters is replaced at the next successful sign-in. An unknown name
costs the same work as a wrong password, so timing does not tell which names exist.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from lanterne.case import schema
from lanterne.case.store import CaseStore, utcnow
from lanterne.errors import UserError

ROLES = ("examiner", "reviewer", "supervisor", "auditor")
ACTIONS = (
    "view",
    "reveal",
    "categorise",
    "flag",
    "resolve_flag",
    "export",
    "manage_users",
    "read_audit",
)
_REVIEWER = frozenset({"view", "reveal", "categorise", "flag"})
GRANTS: dict[str, frozenset[str]] = {
    "auditor": frozenset({"view", "read_audit"}),
    "reviewer": _REVIEWER,
    "examiner": _REVIEWER | {"export"},
    "supervisor": frozenset(ACTIONS),
}
"""Role → the actions it may take."""

MIN_PASSWORD = 10
"""Shortest password accepted, in characters."""

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("lanterne: no such user")


def can(role: str, action: str) -> bool:
    """Whether ``role`` may take ``action``; an unknown role may do nothing.

    Raises ValueError for an action that does not exist (a typo must not deny silently)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    return action in GRANTS.get(role, frozenset())


@dataclass(frozen=True, slots=True)
class Settings:
    """A user's preferences: blurred and greyscale thumbnails until revealed, a break reminder
    after ``break_minutes`` of continuous review (0: none), ``page_size`` items per grid page."""

    blur: bool = True
    greyscale: bool = True
    break_minutes: int = 50
    page_size: int = 100

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from stored or submitted values: unknown keys are refused, missing ones
        take their defaults; ValueError names a bad value."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown settings {', '.join(sorted(unknown))}")
        out = asdict(cls())
        for key, value in values.items():
            default = out[key]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"setting {key} must be true or false, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"setting {key} must be a whole number, not {value!r}")
            out[key] = value
        if not 0 <= out["break_minutes"] <= 600:
            raise ValueError("break_minutes must be between 0 (no reminder) and 600")
        if not 10 <= out["page_size"] <= 500:
            raise ValueError("page_size must be between 10 and 500")
        return cls(**out)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class User:
    """A user as the web application sees them (never their password hash)."""

    id: int
    name: str
    role: str
    settings: dict[str, Any] = field(default_factory=lambda: Settings().as_dict())
    """Every setting, defaults filled in (see :class:`Settings`)."""
    disabled: bool = False

    @property
    def preferences(self) -> Settings:
        return Settings.from_mapping(self.settings)

    def can(self, action: str) -> bool:
        return not self.disabled and can(self.role, action)


def add_user(store: CaseStore, name: str, password: str, role: str) -> User:
    """Create a user; UserError when the name is taken or invalid, the role unknown or the
    password too short."""
    name = _check_name(name)
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    _check_password(password)
    values = {
        "name": name,
        "password_hash": _hasher.hash(password),
        "role": role,
        "settings": "{}",
        "created_at": utcnow(),
    }
    u = schema.app_user
    try:
        with store.engine.begin() as conn:
            conn.execute(u.insert().values(values))
    except IntegrityError as exc:
        raise UserError(f"a user named {name!r} already exists; choose another name") from exc
    found = find_user(store, name)
    assert found is not None
    return found


def authenticate(store: CaseStore, name: str, password: str) -> User | None:
    """The user when the name and password are right and the user is enabled, else None."""
    u = schema.app_user
    with store.engine.connect() as conn:
        row = conn.execute(select(u).where(u.c.name == _normal(name))).first()
    if row is None:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(row.password_hash, password) or row.disabled:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with store.engine.begin() as conn:
            conn.execute(
                update(u).where(u.c.id == row.id).values(password_hash=_hasher.hash(password))
            )
    return _user(row)


def get_user(store: CaseStore, user_id: int) -> User | None:
    """The user with this id (disabled or not), or None."""
    u = schema.app_user
    with store.engine.connect() as conn:
        row = conn.execute(select(u).where(u.c.id == user_id)).first()
    return _user(row) if row else None


def find_user(store: CaseStore, name: str) -> User | None:
    """The user with this name (disabled or not), or None."""
    u = schema.app_user
    with store.engine.connect() as conn:
        row = conn.execute(select(u).where(u.c.name == _normal(name))).first()
    return _user(row) if row else None


def list_users(store: CaseStore) -> list[User]:
    """Every user, by name."""
    u = schema.app_user
    with store.engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(u).order_by(u.c.name))]


def set_settings(store: CaseStore, user_id: int, settings: Mapping[str, Any]) -> User:
    """Change some of a user's settings (the others keep their values); ValueError names a
    bad setting, UserError an unknown user."""
    user = get_user(store, user_id)
    if user is None:
        raise UserError(f"no user with id {user_id}")
    merged = Settings.from_mapping({**user.settings, **settings}).as_dict()
    changed = {k: v for k, v in merged.items() if v != asdict(Settings())[k]}
    u = schema.app_user
    with store.engine.begin() as conn:
        conn.execute(
            update(u).where(u.c.id == user_id).values(settings=json.dumps(changed, sort_keys=True))
        )
    return User(user.id, user.name, user.role, merged, user.disabled)


def set_password(store: CaseStore, name: str, password: str) -> None:
    """Replace a user's password (and sign them out everywhere)."""
    _check_password(password)
    user = _existing(store, name)
    u = schema.app_user
    with store.engine.begin() as conn:
        conn.execute(
            update(u).where(u.c.id == user.id).values(password_hash=_hasher.hash(password))
        )
        conn.execute(delete(schema.web_session).where(schema.web_session.c.user_id == user.id))


def disable_user(store: CaseStore, name: str) -> User:
    """Disable a user (kept, for the audit trail's sake) and end their sessions."""
    user = _existing(store, name)
    u = schema.app_user
    with store.engine.begin() as conn:
        conn.execute(update(u).where(u.c.id == user.id).values(disabled=True))
        conn.execute(delete(schema.web_session).where(schema.web_session.c.user_id == user.id))
    return User(user.id, user.name, user.role, user.settings, True)


# ------------------------------------------------------------------ helpers
def _existing(store: CaseStore, name: str) -> User:
    user = find_user(store, name)
    if user is None:
        raise UserError(f"no user named {name!r}; see `lanterne user list`")
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _normal(name: str) -> str:
    return unicodedata.normalize("NFC", name.strip())


def _check_name(name: str) -> str:
    name = _normal(name)
    if not name or len(name) > 100:
        raise UserError("a user name has 1 to 100 characters")
    if any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in name):
        raise UserError(f"{name!r}: a user name cannot hold control or separator characters")
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


def _user(row: Row[Any]) -> User:
    stored = json.loads(row.settings or "{}")
    try:
        settings = Settings.from_mapping(stored).as_dict()
    except ValueError:  # settings written by a newer version: fall back to the defaults
        settings = Settings().as_dict()
    return User(row.id, row.name, row.role, settings, bool(row.disabled))
