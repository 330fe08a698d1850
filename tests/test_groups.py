"""Reading find-groups answers and matching a group by name or folder path, without a network."""

from __future__ import annotations

import pytest

from airflow_provider_mimecast.errors import MimecastGroupLookupError, MimecastInvalidResponseError
from airflow_provider_mimecast.groups import DirectoryGroup, match_group, read_groups_page

ROOT = DirectoryGroup("g-root", "Root")
EMEA = DirectoryGroup("g-emea", "EMEA", parent_id="g-root")
AMERICAS = DirectoryGroup("g-am", "Americas", parent_id="g-root")
EMEA_SALES = DirectoryGroup("g-es", "Sales", parent_id="g-emea")
AMERICAS_SALES = DirectoryGroup("g-as", "Sales", parent_id="g-am")
SALES_OPS = DirectoryGroup("g-so", "Sales Ops")


def page(*folders: dict[str, object], next_token: object = None) -> dict[str, object]:
    pagination = {"pageSize": 25} if next_token is None else {"pageSize": 25, "next": next_token}
    return {
        "meta": {"status": 200, "pagination": pagination},
        "data": [{"folders": list(folders)}],
        "fail": [],
    }


def test_a_page_is_read_with_every_documented_field_and_its_next_token():
    folder = {
        "id": "g-es",
        "description": "Sales",
        "source": "cloud",
        "parentId": "g-emea",
        "userCount": 12,
        "folderCount": 0,
    }
    groups, token = read_groups_page(page(folder, next_token="tok-2"))
    assert groups == [DirectoryGroup("g-es", "Sales", "cloud", "g-emea", 12, 0)]
    assert token == "tok-2"
    assert read_groups_page(page()) == ([], None)
    assert read_groups_page({"meta": {"status": 200}, "data": [], "fail": []}) == ([], None)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (page({"description": "Sales"}), "no string 'id'"),
        (page({"id": "g-1"}), "no string 'id' and 'description'"),
        (page({"id": "g-1", "description": "x"}, next_token=7), "not a page token"),
        ({"meta": {}, "data": [{"folders": "Sales"}], "fail": []}, "not a list of objects"),
    ],
)
def test_malformed_pages_are_invalid_responses(document, message):
    with pytest.raises(MimecastInvalidResponseError, match=message):
        read_groups_page(document)


def test_the_name_must_match_exactly():
    found = {"Sales Ops": [SALES_OPS, DirectoryGroup("g-x", "sales ops")]}
    assert match_group("Sales Ops", found) is SALES_OPS


def test_several_groups_of_one_name_are_listed_with_their_ids():
    with pytest.raises(MimecastGroupLookupError, match=r"2 Mimecast groups match 'Sales'.*g-es.*g-as"):
        match_group("Sales", {"Sales": [EMEA_SALES, AMERICAS_SALES, SALES_OPS]})


def test_a_folder_path_picks_one_of_them_from_any_folder_down():
    found = {"Sales": [EMEA_SALES, AMERICAS_SALES], "EMEA": [EMEA], "Root": [ROOT], "Americas": [AMERICAS]}
    assert match_group("EMEA/Sales", {**found, "EMEA/Sales": []}) is EMEA_SALES
    assert match_group("Root/Americas/Sales", {**found, "Root/Americas/Sales": []}) is AMERICAS_SALES


def test_a_path_whose_folders_do_not_match_names_the_search_results():
    found = {"Nowhere/Sales": [], "Sales": [EMEA_SALES], "Nowhere": []}
    with pytest.raises(MimecastGroupLookupError, match=r"named exactly 'Nowhere/Sales'.*'Sales' \(id g-es"):
        match_group("Nowhere/Sales", found)


def test_a_name_holding_a_slash_is_found_by_its_name_too():
    slashed = DirectoryGroup("g-ab", "A/B")
    assert match_group("A/B", {"A/B": [slashed], "A": [], "B": []}) is slashed


def test_no_match_says_so_and_lists_at_most_ten_candidates():
    many = [DirectoryGroup(f"g-{n}", f"Team {n}") for n in range(15)]
    with pytest.raises(MimecastGroupLookupError, match=r"exactly 'Team'.*'Team 9'.* and 5 more$"):
        match_group("Team", {"Team": many})
    with pytest.raises(MimecastGroupLookupError, match="found no group at all"):
        match_group("Team", {"Team": []})


def test_a_parent_cycle_ends():
    looped = DirectoryGroup("g-a", "A", parent_id="g-b")
    other = DirectoryGroup("g-b", "B", parent_id="g-a")
    found = {"A/B/A/B/A": [], "A": [looped], "B": [other]}
    assert match_group("A/B/A/B/A", found) is looped
    with pytest.raises(MimecastGroupLookupError):
        match_group("C/A", {"C/A": [], "A": [looped], "C": []})
