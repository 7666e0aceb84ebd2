"""Secrets in an MCP client config never reach an artifact: a token planted in a server's env, HTTP headers, URL
(userinfo and query) and command-line args is absent from every file `dive synth`, `dive eval run` and `dive gym
run` write and from what they print, while the runs do make their usual files; plus the redaction itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest
from dive.env import ClientPool, ConfigError, MCPConfig
from dive.env.config import REDACTED, dive_server_config, redact_url, redacted_config, scrub_secrets

PLAIN = str(Path(__file__).parent / "env" / "plain_server.py")


def _planted_config() -> tuple[MCPConfig, str]:
    secret = f"tok-{uuid.uuid4().hex}"
    config = MCPConfig.load({"mcpServers": {
        "remote": {"command": "npx", "args": [
            "-y", "mcp-remote", f"https://user:{secret}-pw@example.com/mcp?token={secret}-q&region=eu",
            "--header", f"Authorization: Bearer {secret}-h1", "--api-key", f"{secret}-a1", f"--token={secret}-a2",
            "-e", f"GITHUB_TOKEN={secret}-a3", "--verbose"],
            "env": {"OPENAI_API_KEY": f"{secret}-e1", "PATH": "/usr/bin:/bin", "SERVICE_ID": f"{secret}-e2"}},
        "web": {"url": f"https://{secret}-u@api.example.com/mcp?api_key={secret}-k&q=hello#access_token={secret}-f",
                "headers": {"Authorization": f"Bearer {secret}-h2", "X-Api-Key": f"{secret}-h3"}},
    }})
    return config, secret


def test_redacted_config_hides_every_credential_and_keeps_the_rest():
    config, secret = _planted_config()
    shown = config.redacted().to_json()["mcpServers"]
    assert secret not in json.dumps(shown)
    remote, web = shown["remote"], shown["web"]
    assert remote["command"] == "npx"
    assert remote["args"] == ["-y", "mcp-remote", f"https://{REDACTED}@example.com/mcp?token={REDACTED}&region=eu",
                              "--header", f"Authorization: {REDACTED}", "--api-key", REDACTED, f"--token={REDACTED}",
                              "-e", f"GITHUB_TOKEN={REDACTED}", "--verbose"]
    assert remote["env"] == {"OPENAI_API_KEY": REDACTED, "PATH": REDACTED, "SERVICE_ID": REDACTED}
    assert web["url"] == (f"https://{REDACTED}@api.example.com/mcp?api_key={REDACTED}&q=hello"
                          f"#access_token={REDACTED}")
    assert web["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED}
    assert redacted_config(config.to_json()) == config.redacted().to_json()
    assert config.servers["web"].url.startswith(f"https://{secret}")  # the config itself is untouched


def test_secrets_are_what_text_must_not_echo():
    config, secret = _planted_config()
    found = config.secrets()
    for suffix in ("pw", "q", "h1", "a1", "a2", "a3", "e1", "e2", "u", "k", "f", "h2", "h3"):
        assert f"{secret}-{suffix}" in found, suffix
    assert "/usr/bin:/bin" not in found  # a plain path is no secret, and scrubbing it would garble tool output
    text = f"401 for url 'https://api.example.com/mcp?api_key={secret}-k': Bearer {secret}-h2 refused"
    scrubbed = scrub_secrets(text, found)
    assert secret not in scrubbed and scrubbed.count(REDACTED) == 2 and "api.example.com" in scrubbed
    assert scrub_secrets("port 1234", {"1234"}) == "port 1234"  # too short to scrub out of free text


def test_printing_or_refusing_a_config_shows_no_credential():
    config, secret = _planted_config()
    assert secret not in repr(config) and secret not in str(config.servers["web"])
    with pytest.raises(ConfigError) as refused:
        MCPConfig.load({"mcpServers": {"x": {"url": f"ftp://me:{secret}@host/"}}})
    assert secret not in str(refused.value) and "http://" in str(refused.value)
    assert redact_url(f"http://h/p?password={secret}") == f"http://h/p?password={REDACTED}"


def test_pool_scrubs_a_server_that_echoes_its_credential(world):
    """A server echoing its own key (in a result, or in an error) reaches the trace with it redacted."""
    secret = f"tok-{uuid.uuid4().hex}"
    config = {"mcpServers": {"plain": {"command": sys.executable, "args": [PLAIN, "stdio", "--api-key", secret],
                                       "env": {"PLAIN_TOKEN": secret}, "readOnlyTools": ["echo", "slow"]}}}

    async def play():
        async with ClientPool(config) as pool:
            echoed = await pool.call("echo", {"text": f"my key is {secret}"})
            refused = await pool.call("slow", {"seconds": secret})  # the error quotes the value
            return echoed, refused, pool.trace

    echoed, refused, trace = anyio.run(play)
    assert not echoed.is_error and echoed.result == {"text": f"my key is {REDACTED}"}
    assert refused.is_error and REDACTED in (refused.error or "")
    assert secret not in trace.model_dump_json()


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dive", *args], capture_output=True, text=True, timeout=600,
                            check=False, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _files_holding(secret: str, folders: list[Path]) -> list[str]:
    return [str(path) for folder in folders for path in folder.rglob("*")
            if path.is_file() and secret.encode() in path.read_bytes()]


def test_no_artifact_or_output_carries_a_planted_token(world, http_server, tmp_path):
    secret = f"tok-{uuid.uuid4().hex}"
    database = http_server("database").replace("http://", f"http://dive:{secret}-pw@") + f"?token={secret}-q&x=1"
    files = dive_server_config("files", world=world.root)
    # `python -c` takes trailing args as the server's argv: a real server launched with secret flags.
    launch = (f"import sys; sys.argv[1:] = ['serve', 'files', '--world', {str(world.root)!r}]; "
              "from dive.cli import run; run()")
    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"mcpServers": {
        "files": {"command": files.command, "args": ["-c", launch, "--api-key", f"{secret}-a1", f"--token={secret}-a2"],
                  "env": {**(files.env or {}), "FILES_API_TOKEN": f"{secret}-env"}},
        "database": {"url": database, "headers": {"Authorization": f"Bearer {secret}-h", "X-Api-Key": f"{secret}-k"}},
    }}))
    home, synth_out, eval_out = tmp_path / "home", tmp_path / "synth", tmp_path / "eval"
    env = {**os.environ, "DIVE_HOME": str(home)}
    world_args = ("--world", str(world.root))

    synth = _run("synth", "--out", str(synth_out), "--servers", str(config), "--n", "3", "--no-embedding-metrics",
                 *world_args, env=env)
    evaluated = _run("eval", "run", "--agent", "replay", "--tasks", str(synth_out), "--servers", str(config),
                     "--out", str(eval_out), *world_args, env=env)
    played = _run("gym", "run", "--tasks", str(synth_out), "--servers", str(config), "--episodes", "2", *world_args,
                  env=env)

    # The runs did their work, on both servers, and recorded the config (redacted).
    for name in ("tasks.jsonl", "sft.jsonl", "tools.json", "manifest.json", "report.md", "candidates.jsonl"):
        assert (synth_out / name).stat().st_size > 0, name
    manifest = json.loads((synth_out / "manifest.json").read_text())
    assert {t["server"] for t in manifest["tools"].values()} == {"files", "database"}
    recorded = manifest["options"]["servers"]["mcpServers"]
    assert recorded["files"]["env"]["FILES_API_TOKEN"] == REDACTED
    assert recorded["files"]["args"][2:] == ["--api-key", REDACTED, f"--token={REDACTED}"]
    assert recorded["database"]["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED}
    assert recorded["database"]["url"].startswith(f"http://{REDACTED}@127.0.0.1:")
    assert recorded["database"]["url"].endswith(f"/mcp?token={REDACTED}&x=1")
    for name in ("results.jsonl", "metrics.json", "report.md"):
        assert (eval_out / name).stat().st_size > 0, name
    assert "episodes" in played.stdout and "solved" in played.stdout

    assert _files_holding(secret, [synth_out, eval_out, home]) == []
    for run in (synth, evaluated, played):
        assert secret not in run.stdout + run.stderr


def test_a_server_that_refuses_the_connection_is_reported_without_its_token(world, http_server, tmp_path):
    secret = f"tok-{uuid.uuid4().hex}"
    config = tmp_path / "servers.json"
    url = http_server("database").replace("/mcp", f"/nowhere?token={secret}")
    config.write_text(json.dumps({"mcpServers": {"database": {"url": url, "headers": {"Authorization": secret}}}}))
    result = subprocess.run([sys.executable, "-m", "dive", "synth", "--out", str(tmp_path / "out"), "--servers",
                             str(config), "--n", "1", "--world", str(world.root), "--no-embedding-metrics"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1 and "database" in result.stderr
    assert secret not in result.stdout + result.stderr
    assert _files_holding(secret, [tmp_path / "out"]) == []
