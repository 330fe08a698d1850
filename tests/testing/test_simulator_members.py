"""The simulator's group members, over real HTTP: get-group-members' pages, add and remove, permissions,
what a completed import does to its group, and seeding from Python and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_mimecast.testing.simulator import (
    ADD_GROUP_MEMBER_PATH,
    GET_GROUP_MEMBERS_PATH,
    REMOVE_GROUP_MEMBER_PATH,
    MimecastSimulator,
)
from tests.testing.test_simulator import IMPORT, bearer, error_code, http_client, status_of


@pytest.fixture
def sim() -> Iterator[MimecastSimulator]:
    with MimecastSimulator(pending_seconds=0.3, processing_seconds=0.3) as simulator:
        yield simulator


@pytest.fixture
def client(sim: MimecastSimulator) -> Iterator[httpx.Client]:
    with http_client(sim.url) as http:
        yield http


def group(sim: MimecastSimulator, name: str = "Directory Sync") -> str:
    return next(g.id for g in sim.groups() if g.name == name)


def members_page(client: httpx.Client, group_id: str, **pagination: Any) -> httpx.Response:
    body = {"meta": {"pagination": pagination}, "data": [{"id": group_id}]}
    return client.post(GET_GROUP_MEMBERS_PATH, json=body, headers=bearer(client))


def change(client: httpx.Client, path: str, group_id: str, email: str) -> httpx.Response:
    body = {"data": [{"id": group_id, "emailAddress": email}]}
    return client.post(path, json=body, headers=bearer(client))


def addresses(sim: MimecastSimulator, group_id: str) -> list[str]:
    return [m["emailAddress"] for m in sim.group_members(group_id)]


def test_get_group_members_pages_with_next_and_previous(sim: MimecastSimulator, client: httpx.Client) -> None:
    gid = group(sim)
    assert sim.add_group_members(gid, ["a@example.com", ("b@example.com", "Bea"), "c@example.org"]) == 3
    sim.add_group_members(gid, ["d@example.com", "e@example.com"])
    first = members_page(client, gid, pageSize=2).json()
    assert first["meta"]["pagination"]["totalCount"] == 5 and "previous" not in first["meta"]["pagination"]
    assert first["data"][0]["groupMembers"] == [
        {
            "emailAddress": "a@example.com",
            "domain": "example.com",
            "internal": True,
            "type": "created_manually",
        },
        {
            "emailAddress": "b@example.com",
            "domain": "example.com",
            "internal": True,
            "type": "created_manually",
            "name": "Bea",
        },
    ]
    seen, token, pages = [], None, 0
    while True:
        page = members_page(client, gid, pageSize=2, **({"pageToken": token} if token else {})).json()
        pages += 1
        seen += [m["emailAddress"] for m in page["data"][0]["groupMembers"]]
        token = page["meta"]["pagination"].get("next")
        if token is None:
            break
        assert page["meta"]["pagination"]["pageSize"] == 2
    assert pages == 3 and seen == [
        "a@example.com",
        "b@example.com",
        "c@example.org",
        "d@example.com",
        "e@example.com",
    ]
    assert "previous" in page["meta"]["pagination"]
    # Without a page size Mimecast's example size, 25.
    assert len(members_page(client, gid).json()["data"][0]["groupMembers"]) == 5


def test_find_groups_counts_the_members(sim: MimecastSimulator, client: httpx.Client) -> None:
    gid = sim.add_group("Counted", user_count=7)
    body = {"data": [{"query": "Counted"}]}

    def user_count() -> int:
        answer = client.post("/api/directory/find-groups", json=body, headers=bearer(client)).json()
        return int(answer["data"][0]["folders"][0]["userCount"])

    assert user_count() == 7  # as seeded, until the simulator holds the members
    sim.add_group_members(gid, ["a@example.com", "b@example.com"])
    assert user_count() == 2
    change(client, REMOVE_GROUP_MEMBER_PATH, gid, "a@example.com")
    assert user_count() == 1


def test_get_group_members_refuses_what_is_not_a_page(sim: MimecastSimulator, client: httpx.Client) -> None:
    gid, other = group(sim), group(sim, "EMEA")
    sim.add_group_members(gid, [f"u{n}@example.com" for n in range(3)])
    token = members_page(client, gid, pageSize=1).json()["meta"]["pagination"]["next"]
    for response in (
        members_page(client, other, pageToken=token),  # a token belongs to its group
        members_page(client, gid, pageToken="nope"),
        members_page(client, gid, pageSize=0),
        members_page(client, gid, pageSize=501),
    ):
        assert response.status_code == 400 and error_code(response) == "err_validation_invalid"
    assert error_code(client.post(GET_GROUP_MEMBERS_PATH, json={"data": [{}]}, headers=bearer(client))) == (
        "err_validation_blank"
    )


def test_an_unknown_group_is_a_fail_entry_when_group_ids_are_fixed() -> None:
    with MimecastSimulator(group_ids=["grp-1"]) as sim, http_client(sim.url) as client:
        assert members_page(client, "grp-1").json()["data"][0]["groupMembers"] == []
        unknown = members_page(client, "grp-2")
        assert unknown.status_code == 200 and error_code(unknown) == "err_folder_not_found"
        assert unknown.json()["fail"][0]["key"] == {"id": "grp-2"}


def test_add_and_remove_group_member_answer_as_documented(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    gid = group(sim)
    added = change(client, ADD_GROUP_MEMBER_PATH, gid, "new@example.com").json()
    assert added["data"] == [
        {"id": gid, "folderId": gid, "emailAddress": "new@example.com", "internal": True}
    ]
    again = change(client, ADD_GROUP_MEMBER_PATH, gid, "NEW@example.com")
    assert again.status_code == 200 and error_code(again) == "err_folder_group_member_already_exists"
    assert again.json()["fail"][0]["key"] == {"id": gid, "emailAddress": "NEW@example.com"}
    assert addresses(sim, gid) == ["new@example.com"]
    removed = change(client, REMOVE_GROUP_MEMBER_PATH, gid, "New@Example.com")
    assert removed.status_code == 200 and removed.json()["fail"] == []
    assert addresses(sim, gid) == []
    gone = change(client, REMOVE_GROUP_MEMBER_PATH, gid, "new@example.com")
    assert error_code(gone) == "err_folder_group_member_not_found"


def test_a_group_can_hold_a_whole_domain(sim: MimecastSimulator, client: httpx.Client) -> None:
    gid = group(sim)
    body = {"data": [{"id": gid, "domain": "partner.example"}]}
    added = client.post(ADD_GROUP_MEMBER_PATH, json=body, headers=bearer(client)).json()
    assert added["data"] == [{"id": gid, "folderId": gid, "domain": "partner.example", "internal": True}]
    assert members_page(client, gid).json()["data"][0]["groupMembers"] == [
        {"domain": "partner.example", "internal": True, "type": "created_manually"}
    ]
    refused = client.post(
        ADD_GROUP_MEMBER_PATH, json={"data": [{"id": gid, "domain": "a@b.c"}]}, headers=bearer(client)
    )
    assert refused.status_code == 400 and error_code(refused) == "err_validation_invalid"


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        (GET_GROUP_MEMBERS_PATH, "Directories | Groups | Read"),
        (ADD_GROUP_MEMBER_PATH, "Directories | Groups | Edit"),
        (REMOVE_GROUP_MEMBER_PATH, "Directories | Groups | Edit"),
        ("/api/directory/find-groups", "Directories | Groups | Edit"),
    ],
)
def test_a_revoked_permission_answers_403(
    sim: MimecastSimulator, client: httpx.Client, path, permission
) -> None:
    gid = group(sim)
    body = {"data": [{"id": gid, "emailAddress": "x@example.com", "query": "x"}]}
    sim.revoke(permission)
    refused = client.post(path, json=body, headers=bearer(client))
    assert refused.status_code == 403 and permission in refused.json()["fail"][0]["errors"][0]["message"]
    sim.grant(permission)
    assert client.post(path, json=body, headers=bearer(client)).status_code == 200


def upload(client: httpx.Client, group_id: str, body: bytes, *, clear_group: bool = False) -> str:
    arg = json.dumps({"data": [{"groupId": group_id, "fileType": "csv", "clearGroup": clear_group}]})
    response = client.post(IMPORT, content=body, headers={**bearer(client), "x-mc-arg": arg})
    assert response.status_code == 200, response.text
    return str(response.json()["data"][0]["id"])


def wait_for(client: httpx.Client, import_id: str, status: str) -> None:

    deadline = time.monotonic() + 5
    while status_of(client, import_id).json()["data"][0]["status"] != status:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_completed_import_adds_its_accepted_users_and_renames() -> None:
    with (
        MimecastSimulator(
            pending_seconds=0.2,
            processing_seconds=0.2,
            accept_row=lambda row: not row["email"].startswith("bad"),
        ) as sim,
        http_client(sim.url) as client,
    ):
        gid = group(sim)
        sim.add_group_members(gid, [("Old@Example.com", "Old Name"), "stays@example.com"])
        import_id = upload(
            client, gid, b"email,name\nold@example.com,New Name\nbad@example.com,Bad\nnew@example.com,New\n"
        )
        assert addresses(sim, gid) == ["Old@Example.com", "stays@example.com"]  # not yet
        wait_for(client, import_id, "completed")
        members = {m["emailAddress"]: m.get("name") for m in sim.group_members(gid)}
        # The rejected row did not land; the existing member took the file's name; nobody was removed.
        assert members == {"Old@Example.com": "New Name", "stays@example.com": None, "new@example.com": "New"}
        assert status_of(client, import_id).json()["data"][0]["successfulImportedUsers"] == 2


def test_clear_group_empties_the_group_when_processing_starts(
    sim: MimecastSimulator, client: httpx.Client
) -> None:
    gid = group(sim)
    sim.add_group_members(gid, ["leaver@example.com", "stays@example.com"])
    import_id = upload(client, gid, b"email,name\nstays@example.com,Stays\n", clear_group=True)
    assert len(sim.group_members(gid)) == 2  # pending: untouched
    wait_for(client, import_id, "processing")
    assert sim.group_members(gid) == []  # the gap clear_group leaves while the import processes
    wait_for(client, import_id, "completed")
    assert addresses(sim, gid) == ["stays@example.com"]


def test_the_command_line_seeds_members(tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("email,name\nann@example.com,Ann\nbo@example.com,Bo\n")
    command = [
        sys.executable,
        "-m",
        "airflow_provider_mimecast.testing.simulator",
        "--port",
        "0",
        "--group-members",
        "Directory Sync=3",
        "--group-members",
        f"EMEA={users}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        while not lines[-1].startswith("Press Ctrl-C") and lines[-1]:
            lines.append(process.stdout.readline())
        url = lines[0].rsplit(" ", 1)[1].strip()
        seeded = [line.split() for line in lines if line.startswith("Seeded ")]
        assert [words[1] for words in seeded] == ["3", "2"]
        with http_client(url) as client:
            counts = [
                members_page(client, words[-1]).json()["meta"]["pagination"]["totalCount"] for words in seeded
            ]
            emea = members_page(client, seeded[1][-1]).json()["data"][0]["groupMembers"]
        assert counts == [3, 2]
        assert [(m["emailAddress"], m["name"]) for m in emea] == [
            ("ann@example.com", "Ann"),
            ("bo@example.com", "Bo"),
        ]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0, stderr
