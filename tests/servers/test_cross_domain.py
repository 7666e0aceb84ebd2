"""Domains hand files to each other within a session: a web screenshot opens in the media tools."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_a_web_screenshot_opens_in_media_tools_of_the_same_session_only(pool_factory):
    async with pool_factory(["web", "media"], "stdio") as pool:
        shot = await pool.call("browser_screenshot", {"url": "/countries/FR.html", "name": "france"})
        assert not shot.is_error, shot.error
        info = await pool.call("image_info", {"path": shot.result["path"]})
        assert not info.is_error, info.error
        assert info.result["width"] == shot.result["width"] and info.result["format"] == "PNG"
        pool.new_session()
        other = await pool.call("image_info", {"path": shot.result["path"]})
        assert other.is_error  # another session does not see this session's files
