"""Per-session server state: every client session works on its own copy of the mutable world.

MCP 2026-07-28 has no protocol sessions, so a session is named, in order of precedence, by
1. the request's `_meta["dive/session"]` (the client pool always sends one; any client may),
2. the legacy (2025-era) connection: one stdio connection, or one HTTP `Mcp-Session-Id`,
3. otherwise the server process's default session (a stdio server serves exactly one client).

A session named by `_meta` belongs to the client that created it: a request may also carry
`_meta["dive/owner"]`, a secret the client picks once (the client pool picks 128 random bits), and a session
created with one is served, restarted (`dive/fresh`) and ended (`dive/ended`) only for requests that carry the
same. A session created without an owner is open to any request that names it, as its name is all there is to
check (over stateless HTTP nothing else tells clients apart): such clients should use unguessable names.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import anyio

from dive.world import World

from .errors import ToolFailure
from .paths import clone_file, clone_tree

#: The request `_meta` key that names a session.
SESSION_META_KEY = "dive/session"
#: A request `_meta` key that starts the named session afresh before the call: "server" drops this
#: server's state for it, "session" also empties the folder the session shares across servers.
FRESH_META_KEY = "dive/fresh"
#: A request `_meta` key listing session names the client has finished with: their state is disposed of.
ENDED_META_KEY = "dive/ended"
#: A request `_meta` key with the client's secret: sessions it creates are then its own (see the module's doc).
OWNER_META_KEY = "dive/owner"
#: Most names one request's `dive/ended` may list; names past it are left for the idle timeout.
MAX_ENDED_NAMES = 1024
DEFAULT_SESSION = "default"


@dataclass
class SessionContext:
    """What a domain's state class is given when a session starts."""

    key: str
    world: World
    directory: Path
    """A private, writable folder for this session and this server only (clones, scratch)."""
    shared_directory: Path
    """A writable folder for files one domain hands to another in the same session (a web screenshot a
    media tool opens): every server on this machine that serves the same session key sees the same one."""
    options: dict[str, Any] = field(default_factory=dict)
    """Server-wide options (from `dive serve` flags), the same for every session."""


class SessionState(Protocol):
    """A domain's per-session state: built from a `SessionContext`, closed when the session ends."""

    def close(self) -> None: ...


StateT = TypeVar("StateT")


class CopyOnWrite:
    """A file or tree read from the shared world until the first write, then from a private copy."""

    def __init__(self, base: Path, private: Path) -> None:
        self._base = base
        self._private = private
        self._lock = threading.Lock()
        self.copied = False

    @property
    def path(self) -> Path:
        """Where to read: the private copy once made, else the shared (read-only) base."""
        return self._private if self.copied else self._base

    def writable(self) -> Path:
        """Where to write: the private copy, made on first use."""
        with self._lock:
            if not self.copied:
                if self._base.is_dir():
                    clone_tree(self._base, self._private)
                else:
                    clone_file(self._base, self._private)
                self.copied = True
        return self._private


def shared_directory_for(key: str, scratch: Path | None = None) -> Path:
    """The cross-server folder of a session key (named by a hash: a client's key never forms a path), under
    `scratch` (default: the temporary directory). Servers that share sessions must share `scratch`."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return (scratch or Path(tempfile.gettempdir())) / "dive-shared" / digest


def memory_scratch(min_free: int = 1 << 30) -> Path | None:
    """Where callers that open and end sessions by the thousand (synthesis) keep the sessions' folders:
    `$DIVE_SCRATCH` when set (empty: the temporary directory), else /dev/shm when it is a writable tmpfs with
    at least `min_free` bytes free (a container's is often 64 MB), else None (the temporary directory). On a
    disk filesystem creating and deleting those folders costs far more (ext4 searches its inode bitmaps past
    recently deleted inodes), while their files are few and small."""
    override = os.environ.get("DIVE_SCRATCH")
    if override is not None:
        return Path(override) if override else None
    shm = Path("/dev/shm")
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
        if not any(line.split()[1:3] == [str(shm), "tmpfs"] for line in mounts) or not os.access(shm, os.W_OK | os.X_OK):
            return None
        fs = os.statvfs(shm)
    except OSError:
        return None
    return shm if fs.f_bavail * fs.f_frsize >= min_free else None


_LOCK = ".owner.lock"


def _hold_root(root: Path) -> int:
    """Lock `root` for as long as this process lives (the kernel lets go when it ends, however it ends). The
    lock file gets its name only once locked, so no other store ever finds it free."""
    fd = os.open(root / f"{_LOCK}.new", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(root / f"{_LOCK}.new", root / _LOCK)
    return fd


def _remove_orphans(scratch: Path) -> None:
    """Delete the session folders that processes killed without warning (SIGKILL, the OOM killer) left under
    `scratch`: on tmpfs they would hold memory until the next boot. A live store holds its folder's lock."""
    for lock in scratch.glob(f"dive-sessions-*/{_LOCK}"):
        if not _store_alive(lock.parent):
            shutil.rmtree(lock.parent, ignore_errors=True)


def _store_alive(root: Path) -> bool:
    """Whether the store whose folder is `root` still runs (its process holds the folder's lock)."""
    try:
        fd = os.open(root / _LOCK, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: its store is alive
        return True
    finally:
        os.close(fd)
    return False


#: Where, beside the shared folders, each store notes the shared folders its live sessions use.
_USERS = ".users"
#: A shared folder that no live store has claimed is deleted only once untouched this long (a store that just
#: made it has not claimed it yet).
SHARED_GRACE_SECONDS = 300.0


def _remove_orphan_shared(scratch: Path) -> None:
    """Delete the cross-server folders that no live store uses any more (their sessions' servers were killed, or
    never said the session ended): without this they pile up for good."""
    base = scratch / "dive-shared"
    try:
        folders = [entry for entry in os.scandir(base) if entry.name != _USERS and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return
    now = time.time()
    for folder in folders:
        users = base / _USERS / folder.name
        try:
            names = os.listdir(users)
        except OSError:
            names = []
        if any(_store_alive(scratch / name) for name in names):
            continue
        try:
            touched = max(os.stat(folder.path).st_mtime, os.stat(users).st_mtime if names else 0.0)
        except OSError:
            continue
        if now - touched > SHARED_GRACE_SECONDS:
            shutil.rmtree(users, ignore_errors=True)
            shutil.rmtree(folder.path, ignore_errors=True)


#: `SessionStore.get`'s owner when the server itself looks a session up (no request to check).
ANY_OWNER = object()


class SessionRefused(ToolFailure):
    """A request named a session that another client created."""


class _Entry(Generic[StateT]):
    def __init__(self, state: StateT, directory: Path, shared: Path, owner: str | None = None) -> None:
        self.owner = owner
        self.state = state
        self.directory = directory
        self.shared = shared
        self.lock = anyio.Lock()
        self.last_used = time.monotonic()


class SessionStore(Generic[StateT]):
    """Creates one state object per session key, on first use, and disposes of idle ones."""

    def __init__(
        self,
        factory: Callable[[SessionContext], StateT],
        world: World | Callable[[], World],
        *,
        options: dict[str, Any] | None = None,
        max_sessions: int = 512,
        idle_seconds: float = 3600.0,
        scratch: Path | None = None,
    ) -> None:
        self._factory = factory
        self._world_source = world
        self._world: World | None = world if isinstance(world, World) else None
        self._options = dict(options or {})
        self._max = max_sessions
        self._idle = idle_seconds
        self._entries: OrderedDict[str, _Entry[StateT]] = OrderedDict()
        self._scratch = scratch
        parent = scratch or Path(tempfile.gettempdir())
        _remove_orphans(parent)
        _remove_orphan_shared(parent)
        self._root = Path(tempfile.mkdtemp(prefix="dive-sessions-", dir=scratch))
        self._root_lock = _hold_root(self._root)
        self._mutex = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def root(self) -> Path:
        """The folder that holds this store's session folders."""
        return self._root

    @property
    def world_root(self) -> Path | None:
        """The world's folder, once the world is loaded."""
        return self._world.root if self._world is not None else None

    def owned_by(self, key: str, owner: str | None) -> bool | None:
        """Whether the session `key` belongs to `owner` (None when this store has no such session): true for a
        session created without an owner, whoever asks."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        return entry.owner is None or entry.owner == owner

    def get(self, key: str, owner: str | None | object = ANY_OWNER) -> _Entry[StateT]:
        """The entry for `key`, creating its state on first use (owned by `owner`); for a request's `owner`, a
        session another owner created is refused (`ANY_OWNER`, the default, is the server looking itself)."""
        with self._mutex:
            entry = self._entries.get(key)
            if entry is not None and owner is not ANY_OWNER and entry.owner is not None and entry.owner != owner:
                raise SessionRefused(f"the session {key.removeprefix('meta:')!r} belongs to another client; name "
                                     "your own session (an unguessable name, e.g. a random UUID)")
            if entry is None:
                self._evict_locked()
                directory = self._root / uuid.uuid4().hex
                directory.mkdir()
                if self._world is None:  # loaded on first use: listing tools needs no world
                    self._world = self._world_source()  # type: ignore[operator]
                # Only sessions named by the client (meta keys) span servers; others are this server's alone.
                shared = shared_directory_for(key, self._scratch) if key.startswith("meta:") else directory / "shared"
                shared.mkdir(parents=True, exist_ok=True)
                if key.startswith("meta:"):
                    self._claim(shared)
                context = SessionContext(key=key, world=self._world, directory=directory, shared_directory=shared,
                                         options=self._options)
                entry = _Entry(self._factory(context), directory, shared,
                               owner if key.startswith("meta:") and isinstance(owner, str) else None)
                self._entries[key] = entry
            else:
                self._entries.move_to_end(key)
            entry.last_used = time.monotonic()
            return entry

    def end(self, key: str, *, shared: bool = True) -> None:
        """End a session: close its state and delete its private folder (and, with `shared`, the folder
        it shares with other servers, whether or not this server has state for it)."""
        with self._mutex:
            entry = self._entries.pop(key, None)
        if entry is not None:
            self._dispose(entry, shared=shared)
        if shared and key.startswith("meta:"):
            folder = shared_directory_for(key, self._scratch)
            if entry is None and self._claimed_elsewhere(folder):
                return  # another live store's session: that store ends it, for its own client only
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(folder.parent / _USERS / folder.name, ignore_errors=True)

    def close(self) -> None:
        """End every session and remove the store's folder."""
        with self._mutex:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            self._dispose(entry)
        shutil.rmtree(self._root, ignore_errors=True)
        if self._root_lock >= 0:
            os.close(self._root_lock)
            self._root_lock = -1

    def _claim(self, shared: Path) -> None:
        """Note that a live session of this store uses the cross-server folder `shared`."""
        os.utime(shared)
        users = shared.parent / _USERS / shared.name
        users.mkdir(parents=True, exist_ok=True)
        (users / self._root.name).touch()

    def _claimed_elsewhere(self, shared: Path) -> bool:
        users = shared.parent / _USERS / shared.name
        try:
            names = os.listdir(users)
        except OSError:
            return False
        parent = self._root.parent
        return any(name != self._root.name and _store_alive(parent / name) for name in names)

    def _release(self, shared: Path) -> None:
        try:
            (shared.parent / _USERS / shared.name / self._root.name).unlink()
        except OSError:
            pass

    def _evict_locked(self) -> None:
        now = time.monotonic()
        stale = [k for k, e in self._entries.items() if now - e.last_used > self._idle]
        while len(self._entries) - len(stale) >= self._max:
            oldest = next(k for k in self._entries if k not in stale)
            stale.append(oldest)
        for key in stale:
            self._dispose(self._entries.pop(key))

    def _dispose(self, entry: _Entry[Any], *, shared: bool = True) -> None:
        close = getattr(entry.state, "close", None)
        try:
            if callable(close):
                close()
        finally:
            cross_server = entry.shared.parent.name == "dive-shared"
            if cross_server:
                self._release(entry.shared)
            if shared:
                shutil.rmtree(entry.shared, ignore_errors=True)
                if cross_server:
                    shutil.rmtree(entry.shared.parent / _USERS / entry.shared.name, ignore_errors=True)
            if cross_server:
                try:
                    os.rmdir(entry.shared.parent / _USERS)  # only once no session of any store uses it
                except OSError:
                    pass
            shutil.rmtree(entry.directory, ignore_errors=True)
