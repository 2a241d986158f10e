"""Users, tokens and the permission table: the library, the whole role × action matrix, the CLI.

The database tests run on DuckDB and on PostgreSQL (conftest's throwaway server, a new database
per test).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from detente.errors import InputError
from detente.store._db import Database
from detente.users import ACTIONS, ROLES, Principal, Users, can, permissions_markdown

# ------------------------------------------------------------------------------ users and tokens


def test_add_authenticate_revoke(db: Database) -> None:
    users = Users(db)
    token = users.add("kyiv-desk", "party", party="ukr")
    assert re.fullmatch(r"dtk_[A-Za-z0-9_-]{43}", token)  # 32 random bytes, URL-safe base64
    assert users.authenticate(token) == Principal("kyiv-desk", "party", "ukr")
    analyst = users.add("ana", "analyst")
    assert users.authenticate(analyst) == Principal("ana", "analyst", None)
    assert users.list() == [
        Principal("ana", "analyst", None),
        Principal("kyiv-desk", "party", "ukr"),
    ]

    assert users.revoke("kyiv-desk") is True
    assert users.authenticate(token) is None
    assert users.revoke("kyiv-desk") is False  # already revoked
    assert users.revoke("nobody") is False
    assert users.list() == [Principal("ana", "analyst", None)]
    assert users.authenticate(analyst) is not None  # others unaffected


def test_wrong_or_malformed_tokens_are_refused(db: Database) -> None:
    users = Users(db)
    token = users.add("m", "monitor")
    for bad in ("", "dtk_", token[:-1], token + "x", token[4:], "Bearer " + token, token.upper()):
        assert users.authenticate(bad) is None, bad


def test_only_the_hash_of_the_token_is_stored(db: Database) -> None:
    users = Users(db)
    token = users.add("osce-1", "monitor")
    rows = db.rows("SELECT * FROM users")
    assert len(rows) == 1
    assert not any(token in str(cell) for cell in rows[0])
    assert not any(token[4:20] in str(cell) for cell in rows[0])  # not even a part of it
    stored = db.one("SELECT token_sha256 FROM users WHERE name = 'osce-1'")
    assert stored == (hashlib.sha256(token.encode()).hexdigest(),)


def test_tokens_are_different_each_time(db: Database) -> None:
    users = Users(db)
    assert len({users.add(f"u{i}", "analyst") for i in range(20)}) == 20


def test_a_users_table_survives_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "server.duckdb")
    first = Database.open(path)
    token = Users(first).add("root", "admin")
    first.close()
    again = Database.open(path)
    assert Users(again).authenticate(token) == Principal("root", "admin", None)
    again.close()


def fields(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [p.field for p in exc.value.problems]


def test_duplicate_name_is_refused_even_after_revocation(db: Database) -> None:
    users = Users(db)
    users.add("ana", "analyst")
    with pytest.raises(InputError) as exc:
        users.add("ana", "monitor")
    assert fields(exc) == ["name"] and "already exists" in str(exc.value)
    users.revoke("ana")
    with pytest.raises(InputError):
        users.add("ana", "analyst")  # the name stays taken: records name their author


@pytest.mark.parametrize(
    ("name", "role", "party", "bad"),
    [
        ("x", "boss", None, ["role"]),
        ("x", "Party", "ukr", ["role"]),
        ("x", "party", None, ["party"]),  # a party user must say which party
        ("x", "monitor", "ukr", ["party"]),  # and no one else may have one
        ("x", "admin", "ukr", ["party"]),
        ("x", "party", "Ukraine", ["party"]),  # party ids are [a-z][a-z0-9_]*
        ("x", "party", "a--b", ["party"]),
        ("", "monitor", None, ["name"]),
        ("two words", "monitor", None, ["name"]),
        ("", "boss", None, ["name", "role"]),  # every problem, not only the first
    ],
)
def test_bad_input_names_the_field(
    db: Database, name: str, role: str, party: str | None, bad: list[str]
) -> None:
    users = Users(db)
    with pytest.raises(InputError) as exc:
        users.add(name, role, party)
    assert fields(exc) == bad
    assert db.rows("SELECT * FROM users") == []


# ----------------------------------------------------------------------------- the permissions

# Written out by hand from the issue, not derived from PERMISSIONS: "Y" any time, "own" only as
# its own party, "chan" only on a hotline channel it belongs to, "-" never.
#                       party   monitor analyst admin
EXPECTED = {
    "read_findings":       ("Y",    "Y",    "Y",    "Y"),
    "read_agreements":     ("Y",    "Y",    "Y",    "Y"),
    "read_evidence":       ("Y",    "Y",    "Y",    "Y"),
    "evaluate":            ("Y",    "Y",    "Y",    "Y"),
    "submit_observation":  ("-",    "Y",    "-",    "Y"),
    "submit_declaration":  ("own",  "-",    "-",    "-"),
    "submit_notification": ("own",  "-",    "-",    "-"),
    "submit_hotline":      ("own",  "-",    "-",    "-"),
    "read_hotline":        ("chan", "-",    "-",    "-"),
    "review_claims":       ("-",    "-",    "Y",    "Y"),
    "read_claims":         ("-",    "-",    "Y",    "Y"),
    "upload_agreement":    ("-",    "-",    "-",    "Y"),
    "manage_webhooks":     ("-",    "-",    "-",    "Y"),
    "manage_users":        ("-",    "-",    "-",    "Y"),
}  # fmt: skip
ROLE_ORDER = ("party", "monitor", "analyst", "admin")

# Contexts a request can come with: (party, channel). The party principal below is "west".
CONTEXTS: list[tuple[str | None, str | None]] = list(
    itertools.product([None, "west", "east"], [None, "east--west", "west--north", "east--north"])
)


def expected(rule: str, party: str | None, channel: str | None) -> bool:
    mine = channel is None or "west" in channel.split("--")
    if rule == "Y":
        return True
    if rule == "own":
        return party == "west" and mine
    if rule == "chan":
        return channel is not None and mine and party in (None, "west")
    return False


def principal(role: str) -> Principal:
    return {
        "party": Principal("w", "party", "west"),
        "monitor": Principal("m", "monitor", None),
        "analyst": Principal("a", "analyst", None),
        "admin": Principal("root", "admin", None),
    }[role]


def test_the_tables_cover_the_same_actions_and_roles() -> None:
    assert set(ACTIONS) == set(EXPECTED)
    assert ROLES == ROLE_ORDER


@pytest.mark.parametrize("action", list(EXPECTED))
@pytest.mark.parametrize("role", ROLE_ORDER)
def test_can_over_the_whole_matrix(role: str, action: str) -> None:
    rule = EXPECTED[action][ROLE_ORDER.index(role)]
    who = principal(role)
    for party, channel in CONTEXTS:
        got = can(who, action, party=party, channel=channel)
        assert got is expected(rule, party, channel), (role, action, party, channel)


def test_the_rules_the_issue_states_in_words() -> None:
    west, admin = principal("party"), principal("admin")
    assert can(west, "submit_declaration", party="west")
    assert not can(west, "submit_declaration", party="east")  # only as itself
    assert not can(west, "submit_declaration")  # for nobody in particular: no
    assert can(west, "read_hotline", channel="east--west")
    assert can(west, "read_hotline", channel="west--east")
    assert not can(west, "read_hotline", channel="east--north")  # not its channel
    assert not can(west, "read_hotline", channel="west")  # not a channel id at all
    assert not can(west, "submit_hotline", party="west", channel="east--north")
    assert not can(admin, "read_hotline", channel="east--west")  # private to the two parties
    assert not can(admin, "submit_declaration", party="west")  # the admin is not a party
    assert all(can(admin, a) for a in ACTIONS if EXPECTED[a][3] == "Y")
    assert all(can(principal(r), "read_findings") for r in ROLE_ORDER)


def test_a_party_user_without_a_party_gets_nothing_party_scoped() -> None:
    # Users.add refuses such a user; can() must not grant anything to one built by hand.
    ghost = Principal("g", "party", None)
    assert not can(ghost, "submit_declaration", party=None)
    assert not can(ghost, "read_hotline", channel="east--west")


def test_an_unknown_action_is_a_bug_not_a_denial() -> None:
    with pytest.raises(ValueError, match="unknown action 'read_finding'"):
        can(principal("admin"), "read_finding")


def test_docs_show_exactly_the_permission_table() -> None:
    table = permissions_markdown()
    assert len(table.splitlines()) == 2 + len(ACTIONS)
    docs = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    assert table in docs
    # ... and no other (stale) copy of a role × action table.
    assert docs.count("| action | party | monitor | analyst | admin |") == 1


# ----------------------------------------------------------------------------------------- CLI


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "detente", *map(str, args)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_cli_add_list_revoke(tmp_path: Path) -> None:
    db = tmp_path / "server.duckdb"
    added = run("users", "add", "kyiv-desk", "--role", "party", "--party", "ukr", "--db", db)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert re.fullmatch(r"dtk_[A-Za-z0-9_-]{43}", token)  # the token alone on stdout
    assert "not stored" in added.stderr and token not in added.stderr
    monitor = run("users", "add", "osce-1", "--role", "monitor", "--db", db)
    assert monitor.returncode == 0, monitor.stderr

    database = Database.open(str(db))
    try:
        assert Users(database).authenticate(token) == Principal("kyiv-desk", "party", "ukr")
        assert token not in str(database.rows("SELECT * FROM users"))
    finally:
        database.close()

    listed = run("users", "list", "--db", db)
    assert listed.returncode == 0, listed.stderr
    assert "kyiv-desk" in listed.stdout and "ukr" in listed.stdout and "osce-1" in listed.stdout
    assert "dtk_" not in listed.stdout

    revoked = run("users", "revoke", "kyiv-desk", "--db", db)
    assert revoked.returncode == 0, revoked.stderr
    listed = run("users", "list", "--db", db)
    assert "kyiv-desk" not in listed.stdout and "osce-1" in listed.stdout
    again = run("users", "revoke", "kyiv-desk", "--db", db)
    assert again.returncode == 2
    assert "NAME: no active user 'kyiv-desk'" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "boss"], "<command line>: --role: 'boss' is not one of"),
        (["--role", "party"], "<command line>: --party: required for role 'party'"),
        (["--role", "analyst", "--party", "ukr"], "<command line>: --party: only role 'party'"),
        (["--role", "party", "--party", "UKR"], "<command line>: --party: 'UKR': a party id"),
    ],
)
def test_cli_bad_role_or_party_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "server.duckdb"
    result = run("users", "add", "x", *args, "--db", db)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""  # no token printed


def test_cli_list_on_a_missing_database_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.duckdb"
    result = run("users", "list", "--db", missing)
    assert result.returncode == 2
    assert f"{missing}: --db: no such database file" in result.stderr
    assert not missing.exists()  # not created by looking


def test_cli_with_a_postgresql_url(pg_url: str) -> None:
    added = run("users", "add", "root", "--role", "admin", "--db", pg_url)
    assert added.returncode == 0, added.stderr
    listed = run("users", "list", "--db", pg_url)
    assert listed.returncode == 0 and "root" in listed.stdout and "admin" in listed.stdout
    database = Database.open(pg_url)
    try:
        principal = Users(database).authenticate(added.stdout.strip())
        assert principal == Principal("root", "admin", None)
    finally:
        database.close()
