"""The pure core of a directory sync: the file's users, the plan, not_in_group, the deletion guard and the
member pages. No network, no clock."""

from __future__ import annotations

import pytest

from airflow_provider_mimecast.errors import MimecastConfigurationError, MimecastInvalidResponseError
from airflow_provider_mimecast.group_members import GroupMember, PageTokens, read_members_page
from airflow_provider_mimecast.sync_guard import RemovalLimit, parse_max_removals, refusal
from airflow_provider_mimecast.sync_plan import (
    ImportPlan,
    file_users,
    not_in_group,
    not_in_group_report,
    plan_import,
)
from airflow_provider_mimecast.uploads import load_upload
from tests.workbooks import xlsx


def members(*pairs: tuple[str, str | None]) -> list[GroupMember]:
    return [GroupMember(address, name) for address, name in pairs]


def users(text: str) -> dict[str, tuple[str, str]]:
    return file_users(load_upload(text.encode()))


# -- the file's users ---------------------------------------------------------------------------------


def test_file_users_are_keyed_case_insensitively_and_skip_blank_rows():
    got = users("title,email,name\nx,Ada@Example.com, Ada \n,,\ny,grace@example.com,Grace\n")
    assert got == {
        "ada@example.com": ("Ada@Example.com", "Ada"),
        "grace@example.com": ("grace@example.com", "Grace"),
    }


def test_file_users_read_an_xlsx_and_refuse_an_xls():
    workbook = xlsx([["email", "name"], ["ada@example.com", "Ada"]])
    assert file_users(load_upload(workbook, file_type="xlsx")) == {
        "ada@example.com": ("ada@example.com", "Ada")
    }
    with pytest.raises(MimecastConfigurationError, match="xls file, whose rows the provider cannot read"):
        file_users(load_upload(b"\xd0\xcf\x11\xe0" + b"\0" * 100, file_type="xls"))


def test_dropped_rows_are_not_the_files_users():
    upload = load_upload(b"email,name\nbad address,X\nada@example.com,Ada\n", invalid_rows="drop")
    assert list(file_users(upload)) == ["ada@example.com"]


# -- the plan -----------------------------------------------------------------------------------------

FILE = "email,name\nada@example.com,Ada\nGRACE@example.com,Grace Hopper\nnew@example.com,New\n"
GROUP = members(("ada@example.com", "Ada"), ("grace@EXAMPLE.com", "Grace"), ("leaver@example.com", None))


def test_the_plan_adds_renames_keeps_and_removes_only_when_asked():
    plan = plan_import("grp", users(FILE), GROUP)
    assert plan.add == ("new@example.com",)
    assert [(r.address, r.old, r.new) for r in plan.rename] == [
        ("GRACE@example.com", "Grace", "Grace Hopper")
    ]
    assert (plan.unchanged, plan.remove, plan.group_members, plan.file_users) == (1, None, 3, 3)
    assert plan_import("grp", users(FILE), GROUP, remove_missing=True).remove == ("leaver@example.com",)


def test_a_whole_domain_in_the_group_is_neither_counted_nor_removed():
    group = [*GROUP, GroupMember(None, domain="partner.example")]
    plan = plan_import("grp", users(FILE), group, remove_missing=True)
    assert (plan.group_members, plan.remove) == (3, ("leaver@example.com",))
    assert not_in_group(users(FILE), group) == ["new@example.com"]
    assert read_members_page(page([{"domain": "partner.example", "type": "created_manually"}]))[0] == [
        GroupMember(None, domain="partner.example", type="created_manually")
    ]


def test_an_unchanged_file_plans_no_change():
    plan = plan_import(
        "grp", users("email,name\nA@x.com,A\n"), members(("a@X.com", "A")), remove_missing=True
    )
    assert not plan.changes and plan.unchanged == 1 and plan.remove == ()


def test_as_dict_has_the_counts_and_at_most_100_addresses_per_list():
    many = "email,name\n" + "".join(f"u{n}@example.com,U{n}\n" for n in range(250))
    plan = plan_import(
        "grp", users(many), members(*((f"old{n}@example.com", None) for n in range(150))), remove_missing=True
    )
    value = plan.as_dict()
    assert {
        k: value[k]
        for k in ("group_id", "group_members", "file_users", "add", "remove", "rename", "unchanged")
    } == {
        "group_id": "grp",
        "group_members": 150,
        "file_users": 250,
        "add": 250,
        "remove": 150,
        "rename": 0,
        "unchanged": 0,
    }
    assert [len(value["addresses"][k]) for k in ("add", "remove", "rename", "unchanged")] == [100, 100, 0, 0]
    assert value["addresses"]["add"][0] == "u0@example.com"
    assert plan_import("grp", users(FILE), GROUP).as_dict()["remove"] is None


def test_not_in_group_names_the_files_users_the_group_lacks_in_file_order():
    missing = not_in_group(users(FILE), members(("ADA@example.com", "Ada")))
    assert missing == ["GRACE@example.com", "new@example.com"]
    report = not_in_group_report([f"u{n}@x.com" for n in range(1500)])
    assert report["count"] == 1500 and len(report["addresses"]) == 1000


# -- the guard ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "limit"),
    [
        ("default", RemovalLimit()),
        (" Default ", RemovalLimit()),
        (200, RemovalLimit(count=200)),
        ("200", RemovalLimit(count=200)),
        (0, RemovalLimit(count=0)),
        (0.2, RemovalLimit(fraction=0.2)),
        ("0.2", RemovalLimit(fraction=0.2)),
        ("20%", RemovalLimit(fraction=0.2)),
        (1.0, RemovalLimit(fraction=1.0)),
        (300.0, RemovalLimit(count=300)),
        (None, None),
    ],
)
def test_max_removals_takes_counts_fractions_and_text(given, limit):
    assert parse_max_removals(given) == limit


@pytest.mark.parametrize("given", ["None", "", "lots", "-1", -1, 1.5, True, float("nan"), "150%", [1]])
def test_max_removals_refuses_anything_else_naming_the_forms(given):
    with pytest.raises(MimecastConfigurationError, match=r"max_removals is .*'default', a whole number"):
        parse_max_removals(given)


def test_a_rendered_none_says_how_to_give_the_template_a_fallback():
    with pytest.raises(MimecastConfigurationError, match=r"dag_run.conf.get\('max_removals', 'default'\)"):
        parse_max_removals("None")


def plan_removing(removals: int, of: int, file_users: int = 5) -> ImportPlan:
    remove = tuple(f"m{n}@example.com" for n in range(removals))
    return ImportPlan("grp", of, file_users, add=(), rename=(), unchanged=of - removals, remove=remove)


@pytest.mark.parametrize(
    ("removals", "of", "refused"),
    [
        (10, 10, False),  # more than 10%, but not more than 10 members
        (11, 200, False),  # more than 10 members, but not more than 10% (20)
        (20, 200, False),
        (21, 200, True),  # both
        (11, 100, True),
        (4990, 5000, True),
    ],
)
def test_the_default_refuses_more_than_10_members_and_more_than_10_percent(removals, of, refused):
    assert (refusal(plan_removing(removals, of), RemovalLimit(), group="'G'") is not None) == refused


def test_a_count_or_a_fraction_moves_the_limit_and_none_turns_it_off():
    plan = plan_removing(4990, 5000)
    assert refusal(plan, RemovalLimit(count=4990), group="'G'") is None
    assert refusal(plan, RemovalLimit(count=4989), group="'G'") is not None
    assert refusal(plan, RemovalLimit(fraction=1.0), group="'G'") is None
    assert refusal(plan, RemovalLimit(fraction=0.99), group="'G'") is not None
    assert refusal(plan, None, group="'G'") is None
    assert refusal(plan_removing(0, 5000), RemovalLimit(count=0), group="'G'") is None


def test_the_refusal_names_the_group_the_count_the_first_addresses_the_limit_and_the_approval():
    message = refusal(plan_removing(4990, 5000), RemovalLimit(), group="'Staff' (id grp)")
    assert message is not None
    assert "remove 4990 of the 5000 members of group 'Staff' (id grp)" in message
    assert (
        "m0@example.com, m1@example.com, m2@example.com, m3@example.com, m4@example.com and 4985 more"
        in message
    )
    assert "more than 10 members and more than 10% of the group: 500 here" in message
    assert "Nothing was sent" in message and "max_removals=4990" in message
    assert '{"max_removals": 4990}' in message


def test_a_file_without_users_never_clears_a_group_whatever_the_limit():
    plan = plan_removing(3, 3, file_users=0)
    for limit in (None, RemovalLimit(count=1000), RemovalLimit(fraction=1.0)):
        assert "has no user rows, which never clears a group" in (refusal(plan, limit, group="'G'") or "")


# -- member pages -------------------------------------------------------------------------------------


def page(members: list[dict], **pagination: str) -> dict:
    return {
        "meta": {"status": 200, "pagination": pagination},
        "data": [{"groupMembers": members}],
        "fail": [],
    }


def test_a_members_page_reads_typed_records_and_the_next_token():
    item = {
        "emailAddress": "a@x.com",
        "domain": "x.com",
        "internal": True,
        "type": "created_manually",
        "name": "A",
    }
    read, token = read_members_page(page([item, {"emailAddress": "b@x.com"}], next="t2"))
    assert read == [GroupMember("a@x.com", "A", "x.com", True, "created_manually"), GroupMember("b@x.com")]
    assert token == "t2"
    assert read_members_page(page([]))[1] is None
    with pytest.raises(MimecastInvalidResponseError, match="neither a string 'emailAddress' nor a 'domain'"):
        read_members_page(page([{"name": "x"}]))
    with pytest.raises(MimecastInvalidResponseError, match="not a page token"):
        read_members_page(page([], next=7))  # type: ignore[arg-type]


def test_page_tokens_end_every_read():
    tokens = PageTokens("grp", max_pages=10)
    assert tokens.follow(5, "a") == "a" and tokens.follow(5, "b") == "b" and tokens.follow(3, None) is None
    with pytest.raises(MimecastInvalidResponseError, match="same page token twice"):
        repeated = PageTokens("grp", max_pages=10)
        repeated.follow(5, "a")
        repeated.follow(5, "a")
    with pytest.raises(MimecastInvalidResponseError, match="empty page that still names a next page"):
        PageTokens("grp", max_pages=10).follow(0, "a")
    with pytest.raises(MimecastInvalidResponseError, match="more than 2 pages"):
        bounded = PageTokens("grp", max_pages=2)
        bounded.follow(1, "a")
        bounded.follow(1, "b")
