"""Sessions belong to the client that created them: another client that knows a session's name can neither use,
restart nor end it, and a request listing 300,000 names to end costs the server nothing past its cap."""

from __future__ import annotations

from typing import Annotated

import pytest
from dive.servers.kit import Domain, Example, SessionContext
from mcp import Client
from pydantic import BaseModel, Field

pytestmark = pytest.mark.anyio


class Notes(BaseModel):
    notes: list[str]


class NotesState:
    def __init__(self, ctx: SessionContext) -> None:
        self.notes: list[str] = []


def notes_domain() -> Domain:
    domain = Domain("notes", "Notes kept per session.", NotesState)

    @domain.tool(kind="processing", writes=True, examples=[Example({"text": "a"}, lambda r: True)])
    def add_note(s: NotesState, text: Annotated[str, Field(description="The note.")]) -> Notes:
        """Add a note to this session's list."""
        s.notes.append(text)
        return Notes(notes=s.notes)

    return domain


def meta(session: str, owner: str | None, **extra) -> dict:
    out = {"dive/session": session, **extra}
    if owner is not None:
        out["dive/owner"] = owner
    return out


async def test_another_client_cannot_use_restart_or_end_a_session(world):
    server = notes_domain().create_server(world)
    try:
        async with Client(server.mcp) as client:
            first = await client.call_tool("add_note", {"text": "mine"}, meta=meta("victim", "owner-a"))
            assert not first.is_error
            for attempt in (meta("attacker", "owner-b", **{"dive/ended": ["victim"]}),
                            meta("attacker", None, **{"dive/ended": ["victim"] * 10}),
                            meta("victim", "owner-b", **{"dive/fresh": "session"})):
                await client.call_tool("add_note", {"text": "x"}, meta=attempt)
            used = await client.call_tool("add_note", {"text": "theirs"}, meta=meta("victim", "owner-b"))
            assert used.is_error and "belongs to another client" in used.content[0].text
            anonymous = await client.call_tool("add_note", {"text": "theirs"}, meta=meta("victim", None))
            assert anonymous.is_error
            mine = await client.call_tool("add_note", {"text": "again"}, meta=meta("victim", "owner-a"))
            assert mine.structured_content == {"notes": ["mine", "again"]}, "the session survived every attempt"
            ended = await client.call_tool("add_note", {"text": "y"},
                                           meta=meta("other", "owner-a", **{"dive/ended": ["victim"]}))
            assert not ended.is_error and "meta:victim" not in server.sessions._entries, "its owner can end it"
    finally:
        server.close()


async def test_a_huge_ended_list_is_capped(world):
    server = notes_domain().create_server(world)
    try:
        async with Client(server.mcp) as client:
            for i in range(3):
                await client.call_tool("add_note", {"text": "n"}, meta=meta(f"s{i}", "me"))
            names = [f"guess-{i}" for i in range(300_000)] + ["s0"]
            rec = await client.call_tool("add_note", {"text": "z"}, meta=meta("s1", "me", **{"dive/ended": names}))
            assert not rec.is_error
            assert "meta:s0" in server.sessions._entries, "names past the cap are not ended"
            rec = await client.call_tool("add_note", {"text": "z"}, meta=meta("s1", "me", **{"dive/ended": ["s0", "s2"]}))
            assert "meta:s0" not in server.sessions._entries and "meta:s2" not in server.sessions._entries
    finally:
        server.close()
