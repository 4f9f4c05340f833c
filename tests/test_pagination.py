"""aws.next_token_pages: the NextToken loop of GetMetricData and ListConfigurationSets."""

from __future__ import annotations

from typing import Any

import pytest

from ses_exporter.aws import RepeatedNextTokenError, next_token_pages


class PagedApi:
    """A NextToken API answering from a script of (items, token) pages; records requests."""

    def __init__(self, *pages: tuple[list[str], str | None]):
        self.pages = list(pages)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        items, token = self.pages.pop(0)
        return {"Items": items} | ({"NextToken": token} if token is not None else {})


def test_next_token_pages_follow_empty_pages_until_no_token() -> None:
    api = PagedApi((["a"], "t1"), ([], "t2"), ([], ""), (["never"], None))
    request = {"PageSize": 2}
    pages = list(next_token_pages("ListThings", api, request))
    assert [p["Items"] for p in pages] == [["a"], [], []]
    assert api.requests == [
        {"PageSize": 2},
        {"PageSize": 2, "NextToken": "t1"},
        {"PageSize": 2, "NextToken": "t2"},
    ]
    assert request == {"PageSize": 2}  # the caller's request is not changed


def test_next_token_pages_refuse_a_cycle_not_only_a_repeat_in_a_row() -> None:
    # botocore's PageIterator would follow t1, t2, t1, t2, ... forever.
    api = PagedApi((["a"], "t1"), (["b"], "t2"), (["c"], "t1"), (["d"], "t2"))
    pages = next_token_pages("ListThings", api, {})
    with pytest.raises(RepeatedNextTokenError, match="ListThings returned NextToken 't1' twice"):
        for _ in pages:
            pass
    assert len(api.requests) == 3
