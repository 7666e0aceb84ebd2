"""Markdown documents: their outline (headings, tasks), one section's text, and their links with a check of
which local targets exist."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal
from urllib.parse import unquote

from dive.servers.kit import (
    Example,
    Fact,
    Meaning,
    Takes,
    ToolFailure,
    clip_items,
    clip_text,
    no_facts,
    resolve_in_root,
)
from pydantic import BaseModel, Field

from .workspace import DOMAIN, FilesState, read_text, walk_files

MdArg = Annotated[str, Field(description="Workspace-relative path of a Markdown file, e.g. 'README.md'")]
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_TASK = re.compile(r"^\s*[-*+]\s+\[([ xX])\]\s+(.*)$")


@dataclass
class Heading:
    level: int
    text: str
    line: int
    anchor: str


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def scan(lines: list[str]) -> tuple[list[Heading], list[bool]]:
    """Headings (ATX and setext) outside code blocks, and for each line whether it is inside a fenced block."""
    headings: list[Heading] = []
    in_code: list[bool] = []
    fence: str | None = None
    seen: Counter[str] = Counter()

    def add(level: int, text: str, line: int) -> None:
        base = slug(text)
        anchor = base if not seen[base] else f"{base}-{seen[base]}"
        seen[base] += 1
        headings.append(Heading(level, text, line, anchor))

    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if fence is not None:
            in_code.append(True)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            in_code.append(True)
            continue
        in_code.append(False)
        atx = _ATX.match(line)
        if atx:
            add(len(atx.group(1)), (atx.group(2) or "").strip(), i + 1)
        elif i > 0 and re.fullmatch(r" {0,3}(=+|-+)\s*", line) and lines[i - 1].strip() and not in_code[i - 1] \
                and not _ATX.match(lines[i - 1]) and not re.match(r"^\s*([-*+]|\d+[.)])\s", lines[i - 1]):
            if headings and headings[-1].line == i:
                continue
            add(1 if line.strip()[0] == "=" else 2, lines[i - 1].strip(), i)
    return headings, in_code


def _load(s: FilesState, path: str) -> tuple[Path, list[str]]:
    f = s.file(path)
    return f, read_text(f, path)[0].splitlines()


# -- markdown_outline -------------------------------------------------------------------------


class HeadingInfo(BaseModel):
    level: int = Field(description="1 for '#', 2 for '##', ...")
    text: str
    line: int
    anchor: str = Field(description="The '#anchor' a link to this heading uses")


class TaskItem(BaseModel):
    line: int
    done: bool
    text: str


class Outline(BaseModel):
    path: str
    title: str | None = Field(description="The first level-1 heading")
    headings: list[HeadingInfo]
    tasks: list[TaskItem] = Field(description="Checklist items '- [ ]' / '- [x]'")
    tasks_done: int
    tasks_open: int
    words: int = Field(description="Words outside code blocks")
    lines: int
    code_blocks: int


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("markdown_file", "path")}, facts=(Fact("title", "the title of {path}"), Fact("tasks_done", "the number of checked checklist items in {path}"), Fact("tasks_open", "the number of unchecked checklist items in {path}"), Fact("words", "the number of words outside code blocks in {path}"), Fact("lines", "the number of lines in {path}"), Fact("code_blocks", "the number of code blocks in {path}"))), kind="retrieval", examples=[
    Example({"path": "README.md"}, lambda r: r["title"] == "Shared drive" and r["headings"][0]["anchor"] == "shared-drive"),
    Example({"path": "notes/travel/2024-01-03-conakry-gn.md"}, lambda r: r["title"].startswith(("Trip to", "Packing list", "Conakry"))),
])
def markdown_outline(s: FilesState, path: MdArg) -> Outline:
    """Outline a Markdown file: its title, every heading with level, line and link anchor, checklist items
    (done or open), and word, line and code-block counts."""
    f, lines = _load(s, path)
    headings, in_code = scan(lines)
    tasks = []
    for i, line in enumerate(lines):
        m = _TASK.match(line)
        if m and not in_code[i]:
            tasks.append(TaskItem(line=i + 1, done=m.group(1).lower() == "x", text=m.group(2).strip()))
    words = sum(len(line.split()) for i, line in enumerate(lines) if not in_code[i])
    blocks = sum(1 for i, c in enumerate(in_code) if c and (i == 0 or not in_code[i - 1]))
    title = next((h.text for h in headings if h.level == 1), None)
    return Outline(path=s.rel(f), title=title, headings=[HeadingInfo(**h.__dict__) for h in headings], tasks=tasks,
                   tasks_done=sum(t.done for t in tasks), tasks_open=sum(not t.done for t in tasks), words=words,
                   lines=len(lines), code_blocks=blocks)


# -- markdown_section -------------------------------------------------------------------------


class Section(BaseModel):
    path: str
    heading: str
    level: int
    start_line: int = Field(description="Line of the heading")
    end_line: int = Field(description="Last line of the section")
    text: str = Field(description="The section's body, without its heading line")
    truncated: bool


@DOMAIN.tool(meaning=no_facts("returns a section's text as written; its line numbers only locate it", path=Takes("markdown_file", "path")), kind="retrieval", examples=[
    Example({"path": "README.md", "heading": "Shared drive"}, lambda r: "`archives/`" in r["text"] and r["start_line"] == 1),
])
def markdown_section(
    s: FilesState,
    path: MdArg,
    heading: Annotated[str, Field(description="The heading's text or anchor (case-insensitive); a unique part of it also works")],
    include_subsections: Annotated[bool, Field(description="Include the subsections under it (else stop at the next heading)")] = True,
) -> Section:
    """Return the text under one heading of a Markdown file, up to the next heading of the same or a higher level."""
    f, lines = _load(s, path)
    headings, _ = scan(lines)
    wanted = heading.strip().lstrip("#").strip().lower()
    found = (next((h for h in headings if h.text.lower() == wanted or h.anchor == wanted), None)
             or next((h for h in headings if wanted in h.text.lower()), None))
    if found is None:
        names = "; ".join(h.text for h in headings[:30]) or "none"
        raise ToolFailure(f"no heading {heading!r} in {path!r}; its headings are: {names}")
    end = len(lines)
    for h in headings:
        if h.line > found.line and (h.level <= found.level or not include_subsections):
            end = h.line - 1  # a setext heading's line is its text line, above the underline
            break
    start = found.line + (1 if _ATX.match(lines[found.line - 1]) else 2)
    body = "\n".join(lines[start - 1:end]).strip("\n")
    text, clipped = clip_text(body)
    return Section(path=s.rel(f), heading=found.text, level=found.level, start_line=found.line, end_line=end, text=text,
                   truncated=clipped)


# -- markdown_links ---------------------------------------------------------------------------

_INLINE = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*[\"')])?\s*\)")
_REF_USE = re.compile(r"(!?)\[([^\]]+)\]\[([^\]]*)\]")
_REF_DEF = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_AUTO = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_CODE = re.compile(r"`([^`\s]+)`")


class Link(BaseModel):
    path: str = Field(description="The Markdown file the link is in")
    line: int
    text: str
    target: str
    kind: Literal["external", "email", "local", "anchor", "image", "code_path"] = Field(
        description="external URL, mailto, local file, #anchor in the same file, image, or a workspace path in `code`")
    exists: bool | None = Field(description="For local files, images, anchors and code paths: whether the target exists "
                                "in the workspace; null for URLs")
    note: str | None = Field(description="Why a local target does not count as existing, when it does not")


class LinkReport(BaseModel):
    path: str
    links: list[Link]
    counts: dict[str, int] = Field(description="Links per kind")
    broken: int = Field(description="Local, image, anchor and code-path targets that do not exist")
    files: int = Field(description="Markdown files read")
    truncated: bool


def _classify(target: str, image: bool) -> str:
    lowered = target.lower()
    if lowered.startswith("mailto:"):
        return "email"
    if re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
        return "external"
    if target.startswith("#"):
        return "anchor"
    return "image" if image else "local"


def _check_local(s: FilesState, root: Path, md: Path, target: str, *, code: bool) -> tuple[bool, str | None]:
    clean = unquote(target.split("#", 1)[0].split("?", 1)[0])
    if not clean:
        return True, None
    base = PurePosixPath(s.rel(md.parent))
    candidates = [str(base / clean) if str(base) != "." else clean]
    if code:
        candidates.append(clean)
    for candidate in candidates:
        try:
            # Links may legitimately climb ('../data/x.csv'): normalise lexically, then confine.
            parts: list[str] = []
            for part in PurePosixPath(candidate).parts:
                if part == "..":
                    if not parts:
                        raise ToolFailure("leaves the workspace")
                    parts.pop()
                elif part not in (".", ""):
                    parts.append(part)
            resolved = resolve_in_root(root, "/".join(parts) or ".")
        except ToolFailure:
            return False, "points outside the workspace"
        if resolved.exists():
            return True, None
    return False, "no such file or directory in the workspace"


@DOMAIN.tool(meaning=no_facts("what counts as a link (workspace paths written in code spans count too) and as broken is the tool's own rule, not a fact a person asks about", path=Takes("markdown_file", "path")), kind="processing", examples=[
    Example({"path": "README.md"},
            lambda r: any(x["target"] == "reports/" and x["kind"] == "code_path" and x["exists"] for x in r["links"]) and r["broken"] == 0),
])
def markdown_links(
    s: FilesState,
    path: Annotated[str, Field(description="A Markdown file, or a directory whose .md files are all read")],
    kind: Annotated[Literal["all", "external", "email", "local", "anchor", "image", "code_path"],
                    Field(description="Only links of this kind")] = "all",
    only_broken: Annotated[bool, Field(description="Only links whose local target does not exist")] = False,
) -> LinkReport:
    """List the links of Markdown files (inline, reference-style, autolinks, images, and workspace paths written
    as `code`) and check whether each local file, image or #anchor target exists."""
    root = s.read_root
    start = s.existing(path)
    files = [start] if start.is_file() else list(walk_files(root, start, "*.md"))
    links: list[Link] = []
    for md in files:
        rel = s.rel(md)
        lines = read_text(md, rel)[0].splitlines()
        headings, in_code = scan(lines)
        anchors = {h.anchor for h in headings}
        refs = {}
        for i, line in enumerate(lines):
            m = _REF_DEF.match(line)
            if m and not in_code[i]:
                refs[m.group(1).lower()] = m.group(2)
        for i, line in enumerate(lines):
            if in_code[i] or _REF_DEF.match(line):
                continue
            found: list[tuple[str, str, bool, bool]] = []
            for m in _INLINE.finditer(line):
                found.append((m.group(2), m.group(3), m.group(1) == "!", False))
            for m in _REF_USE.finditer(line):
                target = refs.get((m.group(3) or m.group(2)).lower())
                if target:
                    found.append((m.group(2), target, m.group(1) == "!", False))
            for m in _AUTO.finditer(line):
                found.append((m.group(1), m.group(1), False, False))
            stripped = _INLINE.sub("", line)
            for m in _CODE.finditer(stripped):
                token = m.group(1)
                if "/" in token and not re.match(r"^[a-z][a-z0-9+.-]*://", token.lower()) and re.fullmatch(r"[\w./-]+", token):
                    found.append((token, token, False, True))
            for text, target, image, code in found:
                k = "code_path" if code else _classify(target, image)
                exists: bool | None = None
                note = None
                if k == "anchor":
                    exists = target[1:].lower() in anchors
                    note = None if exists else "no heading with this anchor in the file"
                elif k in ("local", "image", "code_path"):
                    exists, note = _check_local(s, root, md, target, code=code)
                links.append(Link(path=rel, line=i + 1, text=text, target=target, kind=k, exists=exists, note=note))  # type: ignore[arg-type]
    counts = dict(sorted(Counter(x.kind for x in links).items()))
    broken = sum(1 for x in links if x.exists is False)
    if kind != "all":
        links = [x for x in links if x.kind == kind]
    if only_broken:
        links = [x for x in links if x.exists is False]
    shown, truncated = clip_items(links)
    return LinkReport(path=s.rel(start), links=shown, counts=counts, broken=broken, files=len(files), truncated=truncated)
