"""Users, roles and passwords of the web review."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from typer.testing import CliRunner

from lanterne.case import schema
from lanterne.case.store import utcnow
from lanterne.case.workspace import Case
from lanterne.commands.review import user_app
from lanterne.errors import UserError
from lanterne.review import audit
from lanterne.review.users import (
    ACTIONS,
    ROLES,
    Settings,
    add_user,
    authenticate,
    can,
    disable_user,
    find_user,
    get_user,
    list_users,
    set_password,
    set_settings,
)

PASSWORD = "correct horse battery"


def _stored_hash(case: Case, name: str) -> str:
    u = schema.app_user
    with case.store.engine.connect() as conn:
        return str(conn.execute(select(u.c.password_hash).where(u.c.name == name)).scalar_one())


def test_passwords_are_argon2id_and_only_the_right_one_signs_in(case: Case) -> None:
    alice = add_user(case.store, "alice", PASSWORD, "reviewer")
    assert (alice.name, alice.role, alice.disabled) == ("alice", "reviewer", False)
    stored = _stored_hash(case, "alice")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert authenticate(case.store, "alice", PASSWORD) == alice
    assert authenticate(case.store, "alice", PASSWORD + "!") is None
    assert authenticate(case.store, "alice", "") is None
    assert authenticate(case.store, "bob", PASSWORD) is None
    assert get_user(case.store, alice.id) == alice
    assert find_user(case.store, "nobody") is None

    disable_user(case.store, "alice")
    assert authenticate(case.store, "alice", PASSWORD) is None
    assert get_user(case.store, alice.id).disabled  # type: ignore[union-attr]


def test_bad_users_are_refused(case: Case) -> None:
    add_user(case.store, "alice", PASSWORD, "examiner")
    with pytest.raises(UserError, match="already exists"):
        add_user(case.store, "alice", PASSWORD, "reviewer")
    with pytest.raises(UserError, match="unknown role"):
        add_user(case.store, "bob", PASSWORD, "admin")
    with pytest.raises(UserError, match="at least"):
        add_user(case.store, "bob", "short", "reviewer")
    with pytest.raises(UserError, match="1 to 100"):
        add_user(case.store, "  ", PASSWORD, "reviewer")
    with pytest.raises(UserError, match="control"):
        add_user(case.store, "bob\x00", PASSWORD, "reviewer")
    assert [u.name for u in list_users(case.store)] == ["alice"]


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(case: Case) -> None:
    user = add_user(case.store, "carol", PASSWORD, "supervisor")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    u = schema.app_user
    with case.store.engine.begin() as conn:
        conn.execute(update(u).where(u.c.id == user.id).values(password_hash=weak))
    assert authenticate(case.store, "carol", PASSWORD) == user
    renewed = _stored_hash(case, "carol")
    assert renewed != weak and not PasswordHasher().check_needs_rehash(renewed)
    assert authenticate(case.store, "carol", PASSWORD) == user


EXPECTED = {
    "auditor": {"view", "read_audit"},
    "reviewer": {"view", "reveal", "categorise", "flag"},
    "examiner": {"view", "reveal", "categorise", "flag", "export"},
    "supervisor": set(ACTIONS),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_role_matrix(role: str, action: str) -> None:
    assert can(role, action) is (action in EXPECTED[role])


def test_roles_that_never_see_or_change_material() -> None:
    assert not can("auditor", "reveal") and not can("auditor", "categorise")
    assert not can("reviewer", "manage_users") and not can("reviewer", "read_audit")
    assert not can("nobody", "view")
    with pytest.raises(ValueError, match="unknown action"):
        can("supervisor", "delete_everything")


def test_settings_default_merge_and_validate(case: Case) -> None:
    user = add_user(case.store, "dave", PASSWORD, "reviewer")
    assert user.settings == {"blur": True, "greyscale": True, "break_minutes": 50, "page_size": 100}
    assert user.preferences == Settings()
    changed = set_settings(case.store, user.id, {"greyscale": False, "break_minutes": 30})
    assert changed.settings == {
        "blur": True,
        "greyscale": False,
        "break_minutes": 30,
        "page_size": 100,
    }
    assert get_user(case.store, user.id) == changed
    assert set_settings(case.store, user.id, {"page_size": 50}).preferences == Settings(
        greyscale=False, break_minutes=30, page_size=50
    )
    with pytest.raises(ValueError, match="unknown settings"):
        set_settings(case.store, user.id, {"autoplay": True})
    with pytest.raises(ValueError, match="true or false"):
        set_settings(case.store, user.id, {"blur": "no"})
    with pytest.raises(ValueError, match="break_minutes"):
        set_settings(case.store, user.id, {"break_minutes": -1})
    with pytest.raises(ValueError, match="whole number"):
        set_settings(case.store, user.id, {"page_size": True})


def test_disabling_or_a_new_password_ends_sessions(case: Case) -> None:
    user = add_user(case.store, "erin", PASSWORD, "examiner")
    s = schema.web_session
    now = utcnow()

    def sign_in(token: str) -> None:
        with case.store.engine.begin() as conn:
            conn.execute(
                s.insert().values(
                    token_sha256=token * 64,
                    user_id=user.id,
                    csrf="c" * 64,
                    created_at=now,
                    seen_at=now,
                    expires_at=now,
                )
            )

    sign_in("a")
    set_password(case.store, "erin", "another long password")
    assert case.store.count(s) == 0
    assert authenticate(case.store, "erin", "another long password") == user
    sign_in("b")
    disable_user(case.store, "erin")
    assert case.store.count(s) == 0
    with pytest.raises(UserError, match="no user named"):
        disable_user(case.store, "frank")


def test_user_commands_add_list_disable_and_audit(case: Case) -> None:
    runner = CliRunner()
    root = str(case.root)
    result = runner.invoke(
        user_app,
        ["add", root, "grace", "--role", "reviewer", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert authenticate(case.store, "grace", PASSWORD) is not None
    result = runner.invoke(
        user_app, ["add", root, "heidi", "--role", "supervisor"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert find_user(case.store, "heidi").role == "supervisor"  # type: ignore[union-attr]
    result = runner.invoke(
        user_app, ["add", root, "ivan", "--role", "boss", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 2 and "unknown role" in result.output
    result = runner.invoke(user_app, ["list", root])
    assert result.exit_code == 0
    assert "grace" in result.output and "supervisor" in result.output
    assert runner.invoke(user_app, ["disable", root, "grace"]).exit_code == 0
    assert authenticate(case.store, "grace", PASSWORD) is None
    assert "disabled" in runner.invoke(user_app, ["list", root]).output

    logged = [(e.action, e.target) for e in audit.entries(case.store)]
    assert logged == [("user-disable", "grace"), ("user-add", "heidi"), ("user-add", "grace")]
    assert all(e.user.startswith("cli:") for e in audit.entries(case.store))
    report = audit.verify(case.store, audit.witness_path(case))
    assert report.ok and report.entries == 3 and not report.notes
