"""MimecastHook's group-member calls against the simulator over real HTTP (and a canned server for the
page shapes the simulator never gives)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mimecast.errors import (
    MimecastAuthenticationError,
    MimecastConfigurationError,
    MimecastInvalidResponseError,
)
from airflow_provider_mimecast.group_members import GroupMember
from airflow_provider_mimecast.hooks.mimecast import MimecastHook
from airflow_provider_mimecast.testing.simulator import (
    GET_GROUP_MEMBERS_PATH,
    IMPORT_USERS_PATH,
    REMOVE_GROUP_MEMBER_PATH,
)
from tests.canned import canned_server
from tests.conftest import oauth_connection


def hook(conn_id: str = "mimecast_default") -> MimecastHook:
    return MimecastHook(conn_id, retry_delay=0.01)


def directory_sync(sim) -> str:
    return next(g.id for g in sim.groups() if g.name == "Directory Sync")


@pytest.mark.parametrize("conn_id", ["mimecast_default", "mimecast_hmac"])
def test_get_group_members_follows_every_page(connections, conn_id):
    gid = directory_sync(connections)
    connections.add_group_members(gid, [(f"u{n}@example.com", f"U {n}") for n in range(7)])
    got = hook(conn_id).get_group_members(gid, page_size=3)
    assert [m.address for m in got] == [f"u{n}@example.com" for n in range(7)]
    assert got[0] == GroupMember("u0@example.com", "U 0", "example.com", True, "created_manually")
    pages = [json.loads(r.body) for r in connections.requests_to(GET_GROUP_MEMBERS_PATH)]
    assert [p["meta"]["pagination"].get("pageToken") is None for p in pages] == [True, False, False]
    assert all(p["data"] == [{"id": gid}] and p["meta"]["pagination"]["pageSize"] == 3 for p in pages)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"groupMembers": [{"emailAddress": "a@x.com"}]}, "same page token twice"),
        ({"groupMembers": []}, "empty page that still names a next page"),
    ],
)
def test_pages_that_never_end_are_an_error_not_a_loop(monkeypatch, answer, message):
    document = {"meta": {"status": 200, "pagination": {"next": "again"}}, "data": [answer], "fail": []}
    with canned_server({GET_GROUP_MEMBERS_PATH: document}) as url:
        monkeypatch.setenv("AIRFLOW_CONN_MIMECAST_DEFAULT", oauth_connection(url))
        with pytest.raises(MimecastInvalidResponseError, match=message):
            hook().get_group_members("grp")


def test_a_refused_read_names_the_permission(connections):
    connections.revoke("Directories | Groups | Read")
    with pytest.raises(MimecastAuthenticationError, match=r"Directories \| Groups \| Read"):
        hook().get_group_members(directory_sync(connections))


def test_bad_arguments_fail_before_any_request(connections):
    with pytest.raises(MimecastConfigurationError, match="group_id is ''"):
        hook().get_group_members("")
    with pytest.raises(MimecastConfigurationError, match="page_size must be"):
        hook().get_group_members("grp", page_size=0)
    with pytest.raises(MimecastConfigurationError, match="exactly one of group_id and group_name"):
        hook().plan_import(b"email,name\na@x.com,A\n")
    assert connections.requests == []


def test_plan_import_by_group_name_reads_the_group_and_sends_nothing_else(connections):
    gid = directory_sync(connections)
    connections.add_group_members(gid, [("ada@example.com", "Ada"), ("leaver@example.com", "L")])
    source = b"email,name\nADA@example.com,Ada Lovelace\nnew@example.com,New\n"
    plan = hook().plan_import(source, group_name="Directory Sync", remove_missing=True)
    assert (plan.group_id, plan.add, plan.remove, plan.unchanged) == (
        gid,
        ("new@example.com",),
        ("leaver@example.com",),
        0,
    )
    assert [r.address for r in plan.rename] == ["ADA@example.com"]
    assert IMPORT_USERS_PATH not in connections.request_counts()


def test_remove_group_member_returns_mimecasts_fail_entries(connections):
    gid = directory_sync(connections)
    connections.add_group_members(gid, ["leaver@example.com"])
    assert hook().remove_group_member(gid, "leaver@example.com") == ()
    assert connections.group_members(gid) == []
    [failure] = hook().remove_group_member(gid, "leaver@example.com")
    assert failure.code == "err_folder_group_member_not_found"
    assert len(connections.requests_to(REMOVE_GROUP_MEMBER_PATH)) == 2
