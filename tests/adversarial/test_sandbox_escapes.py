"""Hostile programs in the bubblewrap sandbox that try to get out rather than to exhaust: privileges
(capabilities, setuid programs, new namespaces, entering the host's), kernel interfaces only root may touch
(mounts, modules, devices, reboot, raw sockets, the clock, sysrq), the host's processes, sockets and files through
inherited descriptors. Every probe is refused inside, and the host never sees it.

Programs that exhaust (fork, memory, CPU, disk and output bombs, sleepers, detached children), the network, writes
outside the workspace and host files are in tests/servers/code/test_code_sandbox.py; FIFOs, the workspace's disk
limit and nested user namespaces in tests/servers/code/test_code_workspace_limits.py."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid

import pytest

from tests.servers.code.code_support import code_pool

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)"),
]

# Each probe prints "ESCAPED <name>" when what it tried worked, "held <name>" otherwise. Calls that would do harm if
# they worked are made in a harmless form (a wrong reboot magic, a path that does not exist, the clock set to now),
# so a broken sandbox fails this test without hurting the host; the kernel checks the privilege first.
PROBES = r'''
import ctypes, ctypes.util, errno, os, socket, sys, time
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
abstract, host_pid, *host_paths = sys.argv[1:]
x86 = os.uname().machine == "x86_64"

def report(name, worked):
    print(("ESCAPED " if worked else "held ") + name, flush=True)

def call(name, fn, *args):
    try:
        result = fn(*args)
    except OSError:
        report(name, False)
        return
    report(name, result == 0 if isinstance(result, int) else True)

def syscall(nr, *args):
    return libc.syscall(nr, *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])

status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
for cap in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
    report(cap, int(status[cap].strip(), 16) != 0)
report("NoNewPrivs", status.get("NoNewPrivs", "0").strip() != "1")
call("mount-tmpfs", libc.mount, b"none", b"/tmp", b"tmpfs", 0, None)
call("remount-usr-rw", libc.mount, b"none", b"/usr", None, 32 | 4096, None)  # MS_REMOUNT | MS_BIND
call("umount-workspace", libc.umount2, b"/workspace", 2)
call("chroot", libc.chroot, b"/tmp")
call("unshare-mount-ns", libc.unshare, 0x00020000)
call("unshare-net-ns", libc.unshare, 0x40000000)
call("unshare-user-ns", libc.unshare, 0x10000000)
for ns in ("mnt", "net", "pid", "user", "uts", "ipc"):
    try:
        fd = os.open(f"/proc/1/ns/{ns}", os.O_RDONLY)
        call(f"setns-{ns}", libc.setns, fd, 0)
        os.close(fd)
    except OSError:
        report(f"setns-{ns}", False)
call("sethostname", libc.sethostname, b"evil", 4)
call("setuid-0", libc.setuid, 0)
call("setgid-0", libc.setgid, 0)
now = time.time()
tv = (ctypes.c_long * 2)(int(now), 0)
call("settimeofday", libc.settimeofday, tv, None)
call("swapon", libc.swapon, b"/nonexistent-swap", 0)
call("acct", libc.acct, b"/nonexistent-acct")
call("mknod-mem", os.mknod, "mem", 0o600 | 0o020000, os.makedev(1, 1))
call("mknod-disk", os.mknod, "sda", 0o600 | 0o060000, os.makedev(8, 0))
if x86:
    call("reboot", syscall, 169, 0, 0, 0, 0)            # reboot with a wrong magic: EPERM comes first
    call("init_module", syscall, 175, 0, 0, b"")
    call("delete_module", syscall, 176, b"nonexistent_module", 0)
    call("kexec_load", syscall, 246, 0, 0, 0, 0)
    call("pivot_root", syscall, 155, b"/tmp", b"/tmp")
    call("open_by_handle_at", syscall, 304, 3, 0, 0)
    call("iopl", syscall, 172, 3)
    call("ioperm", syscall, 173, 0x80, 1, 1)
for path in ("/proc/sysrq-trigger", "/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
             "/proc/sys/vm/drop_caches", "/sys/kernel/uevent_helper"):
    try:
        os.close(os.open(path, os.O_WRONLY))  # opened, never written
        report("open-for-writing " + path, True)
    except OSError:
        report("open-for-writing " + path, False)
for path in ("/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda", "/dev/nvme0n1", "/proc/kcore",
             "/dev/kmsg", "/proc/1/root/etc/shadow", "/proc/1/cwd/../../etc/shadow", "/var/run/docker.sock",
             "/run/docker.sock", "/run/dbus/system_bus_socket"):
    try:
        os.close(os.open(path, os.O_RDONLY))
        report("open " + path, True)
    except OSError:
        report("open " + path, False)
for family, kind, proto, name in ((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, "raw-icmp"),
                                  (socket.AF_PACKET, socket.SOCK_RAW, 0, "packet"),
                                  (socket.AF_NETLINK, socket.SOCK_RAW, 0, "netlink-route")):
    try:
        s = socket.socket(family, kind, proto)
        if name == "netlink-route":  # a socket of its own is fine; adding an address is not
            s.bind((0, 0))
            s.close()
            report(name, os.system("ip addr add 10.9.9.9/32 dev lo 2>/dev/null") == 0)
        else:
            s.close()
            report(name, True)
    except OSError:
        report(name, False)
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect("\0" + abstract)
    report("host-abstract-socket", True)
except OSError:
    report("host-abstract-socket", False)
try:
    os.kill(int(host_pid), 0)
    cmd = open(f"/proc/{host_pid}/cmdline", "rb").read()
    report("host-process-visible", b"pytest" in cmd)
except OSError:
    report("host-process-visible", False)
others = [p for p in os.listdir("/proc") if p.isdigit()]
report("many-processes-visible", len(others) > 20)
leaked = []
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if any(target.startswith(h) for h in host_paths):
        leaked.append(target)
report("inherited-host-descriptor", bool(leaked))
for ioctl_fd in (0, 1, 2):
    import fcntl, termios
    try:
        fcntl.ioctl(ioctl_fd, termios.TIOCSTI, b"x")
        report(f"tiocsti-{ioctl_fd}", True)
    except OSError:
        report(f"tiocsti-{ioctl_fd}", False)
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
try:
    resource.setrlimit(resource.RLIMIT_NPROC, (hard, hard + 1 if hard != resource.RLIM_INFINITY else hard))
    report("raise-nproc-limit", hard != resource.RLIM_INFINITY)
except (OSError, ValueError):
    report("raise-nproc-limit", False)
'''

SHELL_PROBES = [
    ("sudo", "sudo -n true"), ("su", "su -c true root </dev/null"), ("mount", "mount -t tmpfs none /mnt"),
    ("chroot", "chroot / true"), ("nsenter", "nsenter -t 1 -m -u -n -p true"), ("hostname", "hostname evil"),
    ("ping", "ping -c1 -W1 127.0.0.1"), ("unshare-mount", "unshare -m true"), ("setpriv-root", "setpriv --reuid=0 true"),
    ("ip-link", "ip link add dummy0 type dummy"), ("dmesg", "dmesg"), ("insmod", "insmod /nonexistent.ko"),
    ("write-usr", "touch /usr/dive-escape"), ("write-root", "touch /dive-escape"), ("write-shared", "touch /shared/x"),
    ("write-dev", "touch /dev/dive-escape"), ("chmod-usr", "chmod 777 /usr/bin/env"), ("sysctl", "sysctl -w kernel.hostname=evil"),
    ("kill-init", "kill -0 1 && kill -9 1 && sleep 0.2 && ! kill -0 1"),
]


async def test_escape_probes_are_refused_inside(world):
    name = f"dive-host-{uuid.uuid4().hex}"
    host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    host.bind("\0" + name)  # abstract: reachable from this network namespace only
    host.listen(1)
    host.setblocking(False)
    host_paths = [tempfile.gettempdir() + "/pytest", "/work/", str(world.root), os.getcwd() + "/"]
    try:
        async with code_pool(world) as (pool, _server):
            rec = await pool.call("run_python", {"code": PROBES, "args": [name, str(os.getpid()), *host_paths],
                                                 "timeout_seconds": 30})
            assert not rec.is_error, rec.error
            lines = rec.result["stdout"].splitlines()
            escaped = [line for line in lines if line.startswith("ESCAPED")]
            assert escaped == [], f"{escaped}\n{rec.result['stderr'][-2000:]}"
            assert len([line for line in lines if line.startswith("held")]) >= 60, rec.result
            for probe, command in SHELL_PROBES:
                shell = await pool.call("run_shell", {"command": f"({command}) >/dev/null 2>&1 && echo ESCAPED || echo held"})
                assert not shell.is_error and shell.result["stdout"].strip() == "held", (probe, shell.error or shell.result)
            after = await pool.call("run_python", {"code": "print(6 * 7)"})
            assert not after.is_error and after.result["stdout"] == "42\n", "the sandbox works after every probe"
        with pytest.raises(BlockingIOError):
            host.accept()  # nothing connected to the host's socket
    finally:
        host.close()
    for path in ("/usr/dive-escape", "/dive-escape", "/dev/dive-escape", "/dev/dive-escape"):
        assert not os.path.exists(path)
    assert socket.gethostname() != "evil"
