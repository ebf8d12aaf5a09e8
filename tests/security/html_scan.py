"""What a page would run: its <script> elements, inline event handlers and forms, read with the
standard library's HTML parser (no regex over markup)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    method: str
    action: str
    attrs: dict[str, str]
    inputs: dict[str, str] = field(default_factory=dict)


class PageScan(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str]] = []
        self.inline_code: list[str] = []  # code of <script> elements that have no src
        self.handlers: list[str] = []  # on*= and hx-on attributes
        self.forms: list[Form] = []
        self.body_attrs: dict[str, str] = {}
        self.meta: dict[str, str] = {}
        self._in_script: dict[str, str] | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.handlers += [f"<{tag} {name}>" for name in values if name.startswith(("on", "hx-on"))]
        if tag == "script":
            self.scripts.append(values)
            self._in_script = values
        elif tag == "form":
            self.forms.append(Form(values.get("method", "get").lower(), values.get("action", ""), values))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].inputs[values["name"]] = values.get("value", "")
        elif tag == "body":
            self.body_attrs = values
        elif tag == "meta" and "name" in values:
            self.meta[values["name"]] = values.get("content", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        script = self._in_script
        if script is not None and "src" not in script and script.get("type") != "application/json" and data.strip():
            self.inline_code.append(data.strip()[:80])

    @property
    def post_forms(self) -> list[Form]:
        return [f for f in self.forms if f.method == "post"]
