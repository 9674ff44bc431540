"""A report page as a list of blocks, written as ``index.html`` and ``summary.md``.

Blocks are headings, paragraphs, bulleted notes, figures (a PNG beside the page) and
:class:`~harness.report.tables.Table`. The HTML has its CSS inline and links each figure
by relative path, so the folder can be moved or zipped as it is; with ``embed`` the
figures are inlined as ``data:`` URIs and ``index.html`` alone is the whole report.
Wide tables scroll sideways inside the page instead of overflowing it.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from harness.report.tables import Table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2330; background: #fff; line-height: 1.45; }
main { max-width: 1320px; margin: 0 auto; padding: 1.2rem 2rem 3rem; }
h1 { font-size: 1.7rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.35rem; margin-top: 2.4rem; border-bottom: 2px solid #dde3ea;
     padding-bottom: 0.25rem; }
h3 { font-size: 1.08rem; margin: 1.6rem 0 0.4rem; }
p, li { max-width: 70rem; }
.note { color: #4a5568; font-size: 0.92rem; margin: 0.2rem 0 0.5rem; }
.notes { background: #fff8e6; border-left: 4px solid #f0b429; padding: 0.5rem 1rem 0.5rem 2rem; }
nav { font-size: 0.95rem; } nav a { margin-right: 1rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.3rem 0 1rem;
        font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d5dbe3; padding: 0.28rem 0.6rem; text-align: left;
         vertical-align: top; }
thead th { background: #eef2f6; }
tbody tr:nth-child(even) { background: #f8fafc; }
td strong, th strong { color: #0b5394; }
figure { margin: 1rem 0 1.6rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e9ef; }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll table { margin-top: 0; }
figcaption { color: #4a5568; font-size: 0.92rem; max-width: 70rem; margin-top: 0.3rem; }
"""


@dataclass
class Page:
    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, anchor: str | None = None) -> None:
        self.blocks.append(("h2", text, anchor))

    def text(self, text: str) -> None:
        self.blocks.append(("p", text))

    def notes(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("notes", list(items)))

    def figure(self, file: str, caption: str) -> None:
        self.blocks.append(("figure", file, caption))

    def table(self, table: Table | None) -> None:
        if table is not None:
            self.blocks.append(("table", table))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            kind = block[0]
            if kind == "h2":
                out += [f"## {block[1]}", ""]
            elif kind == "p":
                out += [block[1], ""]
            elif kind == "notes":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "figure":
                out += [f"![{block[2]}]({block[1]})", "", f"*{block[2]}*", ""]
            elif kind == "table":
                out += [block[1].markdown()]
        return "\n".join(out).rstrip() + "\n"

    def html(self, embed_from: Path | None = None) -> str:
        """The page; with ``embed_from`` (the folder holding the PNGs) every figure is
        inlined as a ``data:image/png;base64`` URI instead of linked."""
        anchors = [(b[2], b[1]) for b in self.blocks if b[0] == "h2" and b[2]]
        nav = " ".join(f"<a href='#{a}'>{html.escape(t)}</a>" for a, t in anchors)
        parts = [f"<h1>{html.escape(self.title)}</h1>", f"<nav>{nav}</nav>" if nav else ""]
        for block in self.blocks:
            parts.append(_html_block(block, embed_from))
        return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head>"
                f"<body><main>{''.join(parts)}</main></body></html>\n")


def _html_block(block: tuple, embed_from: Path | None) -> str:
    kind = block[0]
    if kind == "h2":
        anchor = f" id='{block[2]}'" if block[2] else ""
        return f"<h2{anchor}>{html.escape(block[1])}</h2>"
    if kind == "p":
        return f"<p>{html.escape(block[1])}</p>"
    if kind == "notes":
        items = "".join(f"<li>{html.escape(i)}</li>" for i in block[1])
        return f"<ul class='notes'>{items}</ul>"
    if kind == "figure":
        caption = html.escape(block[2])
        if embed_from is not None:
            data = base64.b64encode((embed_from / block[1]).read_bytes()).decode("ascii")
            img = f"<img src='data:image/png;base64,{data}' alt='{caption}'>"
        else:
            src = html.escape(block[1])
            img = f"<a href='{src}'><img src='{src}' alt='{caption}'></a>"
        return f"<figure>{img}<figcaption>{caption}</figcaption></figure>"
    if kind == "html":
        return block[1]
    return f"<div class='scroll'>{block[1].html()}</div>"
