"""Reading the exporter's HTML pages: tags and text, the fleet table's rows and cells."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser


class Html(HTMLParser):
    """Tags and text of a page; ``check`` also fails on unbalanced tags."""

    VOID = frozenset({"meta", "link", "input", "br", "wbr", "rect", "circle", "line", "polyline"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @classmethod
    def check(cls, page: str) -> Html:
        parsed = cls()
        parsed.feed(page)
        parsed.close()
        assert parsed.stack == [], parsed.stack
        assert not [t for t, _ in parsed.tags if t in ("script", "style", "iframe", "img")]
        assert not [a for _, a in parsed.tags if "style" in a or any(k.startswith("on") for k in a)]
        return parsed

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.tags if t == tag and wanted.items() <= a.items()]


def fleet_rows(page: str) -> list[tuple[str, str]]:
    return re.findall(
        r'<tr class="target [a-z]+" data-account-id="([^"]*)" data-region="([^"]*)"', page
    )


def cell(page: str, account_id: str, region: str, col: str) -> str:
    row = re.search(
        rf'data-account-id="{re.escape(account_id)}" data-region="{re.escape(region)}">(.*?)</tr>',
        page,
    )
    assert row, (account_id, region)
    found = re.search(rf'<td data-col="{col}"[^>]*>(.*?)</td>', row.group(1))
    assert found, col
    return unescape(re.sub(r"<[^>]+>", "", found.group(1)))
