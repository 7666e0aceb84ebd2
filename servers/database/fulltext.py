"""Full-text search over the database's FTS5 indexes, ranked by BM25, with highlighted snippets."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from dive.servers.kit import Example, ToolFailure, no_facts

from .checks import world_value
from .filters import Filter, as_dicts, where_clause
from .schema import FullTextIndex, Schema, quote_ident
from .state import DOMAIN, DatabaseState

_WORD = re.compile(r"\w+", re.UNICODE)


def fts_expression(query: str, mode: str, column: str | None) -> str:
    """An FTS5 query for the caller's words: every word, any word, the exact phrase, word prefixes, or raw syntax."""
    if mode == "raw":
        expr = query
    else:
        words = _WORD.findall(query)
        if not words:
            raise ToolFailure(f"the query {query!r} has no words to search for")
        quoted = ['"' + w.replace('"', '""') + '"' for w in words]
        expr = {
            "all": " AND ".join(quoted),
            "any": " OR ".join(quoted),
            "phrase": '"' + " ".join(words).replace('"', '""') + '"',
            "prefix": " AND ".join(q + "*" for q in quoted),
        }[mode]
    return f"{{{column}}} : ({expr})" if column else expr


def _index(schema: Schema, name: str | None) -> FullTextIndex:
    if not schema.fts:
        raise ToolFailure("this database has no full-text index")
    if name is None:
        if len(schema.fts) > 1:
            raise ToolFailure(f"several full-text indexes exist; choose one with index: {', '.join(schema.fts)}")
        return next(iter(schema.fts.values()))
    for index in schema.fts.values():
        if index.name.lower() == name.lower():
            return index
    raise ToolFailure(f"unknown full-text index {name!r}; indexes: {', '.join(schema.fts)}")


class SearchHit(BaseModel):
    rank: int = Field(description="1 = most relevant")
    score: float = Field(description="BM25 relevance (higher is more relevant)")
    row: dict[str, Any] = Field(description="The matching row's identifying columns (long text left out)")
    snippet: str = Field(description="The best-matching passage, matches in [brackets]")


class SearchResult(BaseModel):
    index: str
    fts_query: str = Field(description="The FTS5 query that was run")
    total_matches: int
    hits: list[SearchHit]


@DOMAIN.tool(meaning=no_facts("ranks documents by relevance; a rank is the engine's choice, not a fact"), kind="retrieval", examples=[
    Example({"query": "Eiffel Tower"}, lambda r, w: r["total_matches"] == world_value(
        w, "SELECT count(*) FROM documents_fts WHERE documents_fts MATCH '\"eiffel\" AND \"tower\"'")
        and (r["total_matches"] == 0 or "[" in r["hits"][0]["snippet"])),
    Example({"query": "Iceland", "column": "title", "limit": 3,
             "filters": [{"column": "entity_id", "op": "starts_with", "value": "country:"}]},
            lambda r: r["hits"][0]["row"]["entity_id"] == "country:IS" and r["hits"][0]["rank"] == 1
            and r["hits"][0]["snippet"] == "[Iceland]"),
    Example({"query": "international airport", "mode": "phrase",
             "filters": [{"column": "entity_id", "op": "starts_with", "value": "airport:"}], "limit": 5},
            lambda r: len(r["hits"]) == 5 and all(h["row"]["entity_id"].startswith("airport:") for h in r["hits"])
            and r["hits"][0]["score"] >= r["hits"][-1]["score"]),
])
def search_documents(
    s: DatabaseState,
    query: Annotated[str, Field(min_length=1, description="Words to search for, e.g. 'volcanic island capital'")],
    mode: Annotated[Literal["all", "any", "phrase", "prefix", "raw"], Field(description="all = every word must occur; any = at least one; phrase = the words in this order; prefix = words as prefixes ('geo' finds 'geology'); raw = FTS5 syntax (AND, OR, NOT, NEAR(), \"phrases\", prefix*)")] = "all",
    column: Annotated[str | None, Field(description="Search only this indexed column (e.g. 'title'); default: all")] = None,
    filters: Annotated[list[Filter] | None, Field(description="Conditions on the documents' own columns, e.g. entity_id starts_with 'city:'")] = None,
    index: Annotated[str | None, Field(description="Full-text index to search (default: the only one, documents_fts)")] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="Most hits to return")] = 10,
    offset: Annotated[int, Field(ge=0, description="Hits to skip (for paging)")] = 0,
) -> SearchResult:
    """Full-text search over the documents (the world's pages about cities, countries, airports, elements,
    companies and stocks), ranked by BM25 relevance, each hit with its entity id, title and a snippet showing
    where the words match."""
    with s.lock:
        schema = s.schema()
        fts = _index(schema, index)
        if column is not None and column not in fts.columns:
            match = [c for c in fts.columns if c.lower() == column.lower()]
            if not match:
                raise ToolFailure(f"{column!r} is not indexed by {fts.name}; indexed columns: {', '.join(fts.columns)}")
            column = match[0]
        expr = fts_expression(query, mode, column)
        f = quote_ident(fts.name)
        snippet_col = fts.columns.index(column) if column else -1
        if fts.content_table:
            content = schema.table(fts.content_table)
            shown = [c for c in content.column_names if c not in fts.columns[1:]]
            key = "rowid" if fts.content_rowid == "rowid" else quote_ident(content.column(fts.content_rowid).name)
            source = f"{f} JOIN {quote_ident(content.name)} AS d ON d.{key} = {f}.rowid"
            select = ", ".join(f"d.{quote_ident(c)}" for c in shown)

            def resolve(name: str) -> str:
                return f"d.{quote_ident(content.column(name).name)}"
        else:
            if filters:
                raise ToolFailure(f"{fts.name} stores its own text; filters are not available on it")
            shown = ["rowid", fts.columns[0]]
            source = f
            select = f"{f}.rowid, {f}.{quote_ident(fts.columns[0])}"

            def resolve(name: str) -> str:  # pragma: no cover - filters are refused above
                raise ToolFailure("no filters here")
        where, params = where_clause(filters, resolve)
        cond = f"{f} MATCH ?" + (f" AND {where[len(' WHERE '):]}" if where else "")
        try:
            out = s.read(f"SELECT {select}, bm25({f}) AS score, snippet({f}, {snippet_col}, '[', ']', '…', 16) "
                         f"FROM {source} WHERE {cond} ORDER BY score, {f}.rowid LIMIT ? OFFSET ?",
                         [expr, *params, limit, offset], limit=limit)
        except ToolFailure as exc:
            if mode != "raw" or "time limit" in str(exc):
                raise
            raise ToolFailure(f"{exc} in the FTS5 query {expr!r}; check its syntax (quote phrases with \"...\", "
                              "operators AND/OR/NOT in capitals) or use mode 'all'") from None
        total = int(s.scalar(f"SELECT count(*) FROM {source} WHERE {cond}", [expr, *params]))
    rows = as_dicts(shown, [r[:len(shown)] for r in out.rows])
    hits = [SearchHit(rank=offset + i + 1, score=round(-float(r[len(shown)]), 6), row=row, snippet=r[len(shown) + 1])
            for i, (r, row) in enumerate(zip(out.rows, rows))]
    return SearchResult(index=fts.name, fts_query=expr, total_matches=total, hits=hits)
