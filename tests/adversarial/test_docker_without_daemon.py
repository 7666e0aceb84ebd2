"""`--sandbox docker` where no Docker daemon answers refuses with how to start one (the same advice `dive doctor`
gives, tested in tests/test_doctor.py), never with the SDK's bare connection error."""

from __future__ import annotations

import pytest
from dive.servers.code.sandbox import open_sandbox
from dive.servers.kit import ToolFailure


def test_the_docker_sandbox_without_a_daemon_says_how_to_start_one(monkeypatch, tmp_path):
    pytest.importorskip("docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(ToolFailure) as refused:
        open_sandbox("docker")
    message = str(refused.value)
    assert "needs a running Docker daemon" in message and "sudo dockerd --iptables=false --bridge=none" in message
    assert "DOCKER_HOST" in message and "dive doctor" in message
