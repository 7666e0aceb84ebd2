"""Computing over file contents: counts, word frequencies, extracted values, checksums, duplicates and diffs."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, clip_items, clip_text, no_facts
from pydantic import BaseModel, Field

from .workspace import (
    DOMAIN,
    SNIFF_BYTES,
    FilesState,
    decode,
    looks_binary,
    read_text,
    walk_files,
)

PathArg = Annotated[str, Field(description="Workspace-relative path, e.g. 'notes/travel/2024-01-03-conakry-gn.md'")]


# -- text_counts ------------------------------------------------------------------------------


class TextCount(BaseModel):
    path: str
    lines: int
    words: int
    characters: int
    bytes: int


class TextCounts(BaseModel):
    files: list[TextCount] = Field(description="Per file, in path order")
    total: TextCount = Field(description="Sums over all files (path '(total)')")
    skipped_binary: int = Field(description="Binary files left out")
    truncated: bool = Field(description="True when more files were counted than listed (the total covers them all)")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("file", "path")}, facts=(Fact("total.lines", "the number of lines in {path}"), Fact("total.words", "the number of words in {path}"), Fact("total.characters", "the number of characters in {path}")), items=(Items("files", phrase="the text files under {path}", complete_unless="truncated", name="path", name_type="file", name_by="path", attributes={"lines": "number of lines", "words": "number of words", "characters": "number of characters", "bytes": "size"}, units={"bytes": "bytes"}),)), kind="processing", examples=[
    Example({"path": "data/elements.csv"}, lambda r: r["total"]["lines"] == 119 and r["files"][0]["words"] == 119),
    Example({"path": "config", "include": "*.ini"}, lambda r: len(r["files"]) == 3 and r["total"]["lines"] == sum(f["lines"] for f in r["files"])),
])
def text_counts(
    s: FilesState,
    path: Annotated[str, Field(description="A file, or a directory whose text files are all counted (recursively)")],
    include: Annotated[str | None, Field(description="With a directory: only files whose name matches this glob")] = None,
) -> TextCounts:
    """Count lines, words (whitespace-separated), characters and bytes of a file or of every text file in a
    directory, with totals (like `wc`)."""
    root = s.read_root
    start = s.existing(path)
    rows: list[TextCount] = []
    skipped = 0
    for f in walk_files(root, start, include):
        data = f.read_bytes()
        if looks_binary(data[:SNIFF_BYTES]):
            skipped += 1
            continue
        text = decode(data)[0]
        rows.append(TextCount(path=s.rel(f), lines=len(text.splitlines()), words=len(text.split()),
                              characters=len(text), bytes=len(data)))
    if not rows and start.is_file():
        raise ToolFailure(f"{path!r} is a binary file; text_counts counts text files")
    total = TextCount(path="(total)", lines=sum(r.lines for r in rows), words=sum(r.words for r in rows),
                      characters=sum(r.characters for r in rows), bytes=sum(r.bytes for r in rows))
    shown, truncated = clip_items(rows)
    return TextCounts(files=shown, total=total, skipped_binary=skipped, truncated=truncated)


# -- word_frequency ---------------------------------------------------------------------------

_STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves"])
_WORD = re.compile(r"[^\W\d_](?:[\w'-]*\w)?")


class WordCount(BaseModel):
    word: str
    count: int


class WordFrequency(BaseModel):
    path: str
    total_words: int = Field(description="Words counted (after the stop-word and length filters)")
    distinct_words: int
    top: list[WordCount] = Field(description="Most frequent first; ties in alphabetical order")


@DOMAIN.tool(meaning=no_facts("counts words by the tool's own word rule and stop-word list, which a question would have to spell out", path=Takes("file", "path")), kind="processing", examples=[
    Example({"path": "README.md", "top": 5}, lambda r: len(r["top"]) == 5 and r["top"][0]["count"] >= r["top"][-1]["count"]),
    Example({"path": "inbox", "top": 10, "min_length": 4}, lambda r: r["distinct_words"] > 100 and all(len(w["word"]) >= 4 for w in r["top"])),
])
def word_frequency(
    s: FilesState,
    path: Annotated[str, Field(description="A text file, or a directory whose text files are all counted")],
    top: Annotated[int, Field(ge=1, le=200, description="How many of the most frequent words to return")] = 20,
    min_length: Annotated[int, Field(ge=1, le=30, description="Ignore words shorter than this")] = 1,
    exclude_stopwords: Annotated[bool, Field(description="Leave out common English words (the, and, of, ...)")] = True,
    ignore_case: Annotated[bool, Field(description="Count 'Paris' and 'paris' as one word (reported in lower case)")] = True,
) -> WordFrequency:
    """The most frequent words in a text file or directory of text files, with counts. Words are runs of
    letters (digits-only tokens are ignored)."""
    root = s.read_root
    start = s.existing(path)
    counts: Counter[str] = Counter()
    for f in walk_files(root, start):
        data = f.read_bytes()
        if looks_binary(data[:SNIFF_BYTES]):
            continue
        for word in _WORD.findall(decode(data)[0]):
            key = word.lower() if ignore_case else word
            if len(word) < min_length or exclude_stopwords and word.lower() in _STOPWORDS:
                continue
            counts[key] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return WordFrequency(path=s.rel(start), total_words=sum(counts.values()), distinct_words=len(counts),
                         top=[WordCount(word=w, count=n) for w, n in ranked])


# -- extract_patterns -------------------------------------------------------------------------

_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "url": re.compile(r"\bhttps?://[^\s<>()\"']+[^\s<>()\"'.,;:!?]"),
    "date": re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?Z?)?\b"),
    "time": re.compile(r"\b(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?\b"),
    # Numbers standing alone: not the parts of dates, times, codes or version strings.
    "number": re.compile(r"(?<![\w.:/-])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w:/-]|[.,]\d)"),
    "money": re.compile(r"(?:[$€£]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP|JPY)\b)"),
    "ipv4": re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"),
    "hashtag": re.compile(r"(?<!\w)#[A-Za-z]\w*"),
    "key_value": re.compile(r"\b[A-Za-z_][\w.-]*=(?:\"[^\"]*\"|'[^']*'|[^\s,;]+)"),
}


class ExtractedValue(BaseModel):
    value: str
    count: int = Field(description="Occurrences")
    first_path: str
    first_line: int = Field(description="Line of the first occurrence (1-based)")


class ExtractResult(BaseModel):
    path: str
    kind: str
    values: list[ExtractedValue] = Field(description="Distinct values in order of first appearance")
    total_occurrences: int
    distinct: int
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("file", "path")}, facts=(Fact("total_occurrences", "the number of {kind} matches in {path}"),), items=(Items("values", phrase="the distinct {kind} matches in {path}", total="distinct", complete_unless="truncated", name="value", attributes={"count": "number of occurrences"}),)), kind="processing", examples=[
    Example({"path": "inbox", "kind": "email"},
            lambda r: any(v["value"] == "support@atlas.example.com" and v["count"] > 10 for v in r["values"])),
    Example({"path": "config/env/production.ini", "kind": "ipv4"}, lambda r: r["values"][0]["value"] == "0.0.0.0"),
    Example({"path": "logs/bookings-2024-01.log", "kind": "key_value", "limit": 5}, lambda r: r["total_occurrences"] > 1000 and len(r["values"]) == 5),
])
def extract_patterns(
    s: FilesState,
    path: Annotated[str, Field(description="A text file, or a directory whose text files are all scanned")],
    kind: Annotated[Literal["email", "url", "date", "time", "number", "money", "ipv4", "hashtag", "key_value"],
                    Field(description="What to extract: email addresses, http(s) URLs, ISO dates (with optional time), "
                          "clock times, numbers, money amounts ($12.50, 30 USD), IPv4 addresses, #hashtags, key=value pairs")],
    include: Annotated[str | None, Field(description="With a directory: only files whose name matches this glob")] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Most distinct values to return")] = 100,
) -> ExtractResult:
    """Extract every value of one kind (emails, URLs, dates, numbers, money amounts, ...) from text files,
    with how often each occurs and where it first appears."""
    root = s.read_root
    start = s.existing(path)
    rx = _PATTERNS[kind]
    found: dict[str, ExtractedValue] = {}
    total = 0
    for f in walk_files(root, start, include):
        data = f.read_bytes()
        if looks_binary(data[:SNIFF_BYTES]):
            continue
        for i, line in enumerate(decode(data)[0].splitlines()):
            for m in rx.finditer(line):
                value = m.group(0)
                total += 1
                if value in found:
                    found[value].count += 1
                else:
                    found[value] = ExtractedValue(value=value, count=1, first_path=s.rel(f), first_line=i + 1)
    values = list(found.values())
    return ExtractResult(path=s.rel(start), kind=kind, values=values[:limit], total_occurrences=total, distinct=len(values),
                         truncated=len(values) > limit)


# -- file_checksum ----------------------------------------------------------------------------


class Checksum(BaseModel):
    path: str
    algorithm: str
    digest: str = Field(description="Lower-case hex digest")
    size_bytes: int
    matches_expected: bool | None = Field(description="Whether the digest equals `expected` (null when none was given)")


def digest_file(path: Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("file", "path")}, facts=(Fact("digest", "the {algorithm} checksum of {path}"), Fact("size_bytes", "the size of {path}", unit="bytes"))), kind="processing", examples=[
    Example({"path": "data/elements.csv", "algorithm": "sha256"},
            lambda r, w: r["digest"] == __import__("hashlib").sha256((w.files_root / "data/elements.csv").read_bytes()).hexdigest()),
    Example({"path": "README.md", "algorithm": "md5", "expected": "0" * 32}, lambda r: r["matches_expected"] is False and len(r["digest"]) == 32),
])
def file_checksum(
    s: FilesState,
    path: PathArg,
    algorithm: Annotated[Literal["md5", "sha1", "sha256", "sha512"], Field(description="Hash algorithm")] = "sha256",
    expected: Annotated[str | None, Field(description="A digest to verify the file against (hex, any case)")] = None,
) -> Checksum:
    """Compute a file's checksum (md5, sha1, sha256 or sha512), optionally verifying it against an expected digest."""
    f = s.file(path)
    digest = digest_file(f, algorithm)
    match = None if expected is None else digest == expected.strip().lower()
    return Checksum(path=s.rel(f), algorithm=algorithm, digest=digest, size_bytes=f.stat().st_size, matches_expected=match)


# -- find_duplicates --------------------------------------------------------------------------


class DuplicateGroup(BaseModel):
    sha256: str
    size_bytes: int
    paths: list[str] = Field(description="Files with identical content, in path order")


class DuplicatesResult(BaseModel):
    path: str
    groups: list[DuplicateGroup] = Field(description="Largest wasted space first")
    duplicate_files: int = Field(description="Files that are extra copies (group size minus one, summed)")
    wasted_bytes: int = Field(description="Bytes the extra copies take")
    files_scanned: int


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("directory", "path")}, facts=(Fact("duplicate_files", "the number of files under {path} that are extra copies of another file there"), Fact("wasted_bytes", "the space the extra copies of duplicated files under {path} take", unit="bytes"), Fact("files_scanned", "the number of files under {path}"))), kind="processing", examples=[
    Example({"path": "."}, lambda r: any("data/elements.csv" in g["paths"] and "backup/2024/elements.csv" in g["paths"] for g in r["groups"])),
    Example({"path": "data", "include": "*.csv"}, lambda r: r["duplicate_files"] == 1 and r["groups"][0]["paths"] == ["data/stocks/MSFT.csv", "data/stocks/archive/MSFT_2010.csv"]),
])
def find_duplicates(
    s: FilesState,
    path: Annotated[str, Field(description="Directory to scan recursively; '.' for everything")] = ".",
    include: Annotated[str | None, Field(description="Only files whose name matches this glob")] = None,
    min_size: Annotated[int, Field(ge=0, description="Ignore files smaller than this many bytes")] = 1,
) -> DuplicatesResult:
    """Find files with identical content (same SHA-256) under a directory, grouped, with the space the extra
    copies waste."""
    root = s.read_root
    start = s.directory(path)
    by_size: dict[int, list[Path]] = {}
    scanned = 0
    for f in walk_files(root, start, include):
        size = f.stat().st_size
        scanned += 1
        if size >= min_size:
            by_size.setdefault(size, []).append(f)
    groups: list[DuplicateGroup] = []
    for size, files in by_size.items():
        if len(files) < 2:
            continue
        by_hash: dict[str, list[Path]] = {}
        for f in files:
            by_hash.setdefault(digest_file(f), []).append(f)
        for digest, same in by_hash.items():
            if len(same) > 1:
                groups.append(DuplicateGroup(sha256=digest, size_bytes=size, paths=sorted(s.rel(p) for p in same)))
    groups.sort(key=lambda g: (-(len(g.paths) - 1) * g.size_bytes, g.paths[0]))
    extra = sum(len(g.paths) - 1 for g in groups)
    wasted = sum((len(g.paths) - 1) * g.size_bytes for g in groups)
    return DuplicatesResult(path=s.rel(start), groups=groups[:200], duplicate_files=extra, wasted_bytes=wasted, files_scanned=scanned)


# -- diff_files -------------------------------------------------------------------------------


class DiffResult(BaseModel):
    a: str
    b: str
    identical: bool
    lines_added: int
    lines_removed: int
    hunks: int
    diff: str = Field(description="Unified diff from a to b")
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"a": Takes("file", "path"), "b": Takes("file", "path")}, facts=(Fact("identical", "whether {a} and {b} have the same text"), Fact("lines_added", "the number of lines added going from {a} to {b}"), Fact("lines_removed", "the number of lines removed going from {a} to {b}"))), kind="processing", examples=[
    Example({"a": "config/env/staging.ini", "b": "config/env/production.ini"},
            lambda r: not r["identical"] and r["lines_added"] == 2 and r["lines_removed"] == 2 and "+level = WARNING" in r["diff"]),
    Example({"a": "data/elements.csv", "b": "backup/2024/elements.csv"}, lambda r: r["identical"] and r["diff"] == ""),
])
def diff_files(
    s: FilesState,
    a: Annotated[str, Field(description="The original file")],
    b: Annotated[str, Field(description="The changed file")],
    context_lines: Annotated[int, Field(ge=0, le=20, description="Unchanged lines shown around each change")] = 3,
    ignore_whitespace: Annotated[bool, Field(description="Ignore differences in spaces and tabs within lines")] = False,
) -> DiffResult:
    """Compare two text files line by line: a unified diff plus counts of added and removed lines and hunks."""
    fa, fb = s.file(a), s.file(b)
    ta, tb = read_text(fa, a)[0].splitlines(), read_text(fb, b)[0].splitlines()
    if ignore_whitespace:
        ca, cb = [" ".join(x.split()) for x in ta], [" ".join(x.split()) for x in tb]
    else:
        ca, cb = ta, tb
    matcher = difflib.SequenceMatcher(None, ca, cb, autojunk=False)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    lines = list(difflib.unified_diff(ca, cb, fromfile=s.rel(fa), tofile=s.rel(fb), n=context_lines, lineterm=""))
    hunks = sum(1 for line in lines if line.startswith("@@"))
    text, clipped = clip_text("\n".join(lines) + ("\n" if lines else ""))
    return DiffResult(a=s.rel(fa), b=s.rel(fb), identical=added == removed == 0, lines_added=added, lines_removed=removed,
                      hunks=hunks, diff=text, truncated=clipped)


# -- compare_directories ----------------------------------------------------------------------


class DirectoryComparison(BaseModel):
    a: str
    b: str
    only_in_a: list[str] = Field(description="Relative paths of files present only under a")
    only_in_b: list[str]
    different: list[str] = Field(description="Relative paths present in both with different content")
    identical: int = Field(description="Files present in both with the same content")
    truncated: bool


@DOMAIN.tool(meaning=Meaning(takes={"a": Takes("directory", "path"), "b": Takes("directory", "path")}, facts=(Fact("identical", "the number of files with the same content in both {a} and {b}"),), items=(Items("only_in_a", phrase="the files under {a} that are not under {b}", complete_unless="truncated"), Items("only_in_b", phrase="the files under {b} that are not under {a}", complete_unless="truncated"), Items("different", phrase="the files under both {a} and {b} whose content differs", complete_unless="truncated"))), kind="processing", examples=[
    Example({"a": "config/env", "b": "config"}, lambda r: "app.yaml" in r["only_in_b"] and "production.ini" in r["only_in_a"]),
    Example({"a": "data", "b": "backup/2024"}, lambda r: r["identical"] == 1 and "bookings-2024-01.log" in r["only_in_b"]),
])
def compare_directories(
    s: FilesState,
    a: Annotated[str, Field(description="First directory")],
    b: Annotated[str, Field(description="Second directory")],
) -> DirectoryComparison:
    """Compare two directory trees file by file: files only in one of them, files whose content differs,
    and how many are identical (paths are relative to each directory)."""
    root = s.read_root
    da, db = s.directory(a), s.directory(b)

    def files(d: Path) -> dict[str, Path]:
        return {p.relative_to(d).as_posix(): p for p in walk_files(root, d)}

    fa, fb = files(da), files(db)
    only_a = sorted(set(fa) - set(fb))
    only_b = sorted(set(fb) - set(fa))
    different: list[str] = []
    same = 0
    for rel in sorted(set(fa) & set(fb)):
        pa, pb = fa[rel], fb[rel]
        if pa.stat().st_size == pb.stat().st_size and digest_file(pa) == digest_file(pb):
            same += 1
        else:
            different.append(rel)
    ca, t1 = clip_items(only_a)
    cb, t2 = clip_items(only_b)
    cd, t3 = clip_items(different)
    return DirectoryComparison(a=s.rel(da), b=s.rel(db), only_in_a=ca, only_in_b=cb, different=cd, identical=same,
                               truncated=t1 or t2 or t3)

