"""`dive doctor` reports Docker usable only when a daemon answers, and says how to start one."""

from __future__ import annotations

import shutil

import pytest

from dive.doctor import check_docker


@pytest.mark.skipif(shutil.which("dockerd") is None, reason="docker.io is not installed")
def test_docker_without_a_daemon_is_not_reported_ok(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    check = check_docker()
    assert not check.ok and "no Docker daemon answers" in check.detail
    assert "dockerd --iptables=false --bridge=none" in check.fix and not check.required
