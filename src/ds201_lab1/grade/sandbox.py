"""The untrusted stage, worker side: run one notebook in a sandbox, in otter's grading mode.

Started by :mod:`.execute` as ``python -m ds201_lab1.grade.sandbox SPEC`` in its own process group,
under ``unshare --mount --net --pid --ipc --uts --fork --kill-child`` when the machine allows it
(System V IPC and the host name are the sandbox's own: a shared-memory segment dies with it and no
other sandbox sees it). Then, before any student code runs, this worker

1. builds a new root filesystem on a tmpfs holding only read-only binds of the system (``/usr``,
   ``/etc``), the Python installation and the virtualenv, a private ``/tmp`` and ``/dev/shm``, the
   data cache (read-only) and the scratch folder with the notebook — no repository, no hidden
   test, no other submission — and ``pivot_root``\\ s into it;
2. brings up loopback only (the kernel talks to this worker over 127.0.0.1; there is no other
   network), drops every capability and, when it runs as root, becomes this sandbox's own user
   (a uid of ``isolation.SANDBOX_UIDS``: one notebook's processes never count against another's);
3. executes the notebook with nbclient (errors allowed) after otter's own preprocessing: ignored
   cells dropped, ``Notebook.init_grading_mode`` first, and last a cell that checks every question
   not checked yet. The "tests" it checks against are stubs that only save the values the real
   tests take (:mod:`.snapshot`); the real ones never enter this process or its filesystem.

It writes its notes (``meta.json``, through a file descriptor the parent opened outside the
sandbox, out of the kernel's reach): per cell errors (``ename`` only), whether
the kernel died, the cell running. The parent enforces the wall-clock and memory limits and reads
everything written here as untrusted data.

**Answers are final when checked** (:class:`Sealer`). Right after each cell, the worker copies
what that cell's checks saved out of the kernel-writable folder, through a directory descriptor
the parent opened outside the sandbox (the kernel, the same user, can reach neither: the worker is
not dumpable, and the folder is not in the sandbox's filesystem). A question is sealed after the
first cell that saved it, and again only after a cell that checks it by name
(``grader.check("q")``: otter counts the last check). Whatever the kernel writes otherwise — later
cells' threads and signal handlers, ``atexit`` handlers at shutdown, after the last cell — is never
read. The parent verifies only the sealed copy.

The worker dies with the grader: ``setpriv --pdeathsig KILL`` kills ``unshare`` when the grader
dies, ``--kill-child`` kills this worker then, and the worker re-arms that signal after changing
its user (which clears it); as the PID namespace's first process, its death ends every process
in the sandbox.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import platform
import re
import resource
import signal
import socket
import stat
import struct
import sys
import threading
import time
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 36, 38
# System V shared memory one sandbox may hold (its IPC namespace's own limits; cgroups count it too).
SHM_BYTES = 256 * 2**20
HOSTNAME = "ds201-sandbox"
SYSCALLS = {"x86_64": {"pivot_root": 155, "capset": 126}, "aarch64": {"pivot_root": 41, "capset": 91}}
SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
DEV_NODES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class SandboxError(RuntimeError):
    """The sandbox could not be set up; the parent falls back or reports it."""


def _enc(s: str | None) -> bytes | None:
    return s.encode() if s is not None else None


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"mount {source or fstype} on {target}: {os.strerror(err)}")


def _kept_flags(path: str) -> int:
    """Flags of the mount holding ``path`` that a read-only remount must keep (locked in a user ns)."""
    f = os.statvfs(path).f_flag
    out = 0
    for st, ms in (
        (2, MS_NOSUID),
        (4, MS_NODEV),
        (8, MS_NOEXEC),
        (1024, MS_NOATIME),
        (2048, MS_NODIRATIME),
        (4096, MS_RELATIME),
    ):
        if f & st:
            out |= ms
    return out


def _bind(src: str, root: str, read_only: bool = True, device: bool = False) -> None:
    target = root + src
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(src, target, None, MS_BIND | MS_REC)
    if read_only:
        extra = 0 if device else MS_NOSUID | MS_NODEV
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | extra | _kept_flags(src))


def _python_roots() -> list[str]:
    roots = []
    for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))):
        real = os.path.realpath(p)
        if not any(real == d or real.startswith(d + "/") for d in ("/usr",) + tuple(roots)):
            roots.append(real)
    return roots


def _loopback_up() -> None:
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, siocgifflags, struct.pack("16sH14s", b"lo", 0, b"\0" * 14))
        flags = struct.unpack("16sH14s", ifr)[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b"\0" * 14))


def _syscall(name: str, *args: Any) -> int:
    number = SYSCALLS.get(platform.machine(), {}).get(name)
    if number is None:
        raise SandboxError(f"{name} is not known on {platform.machine()}")
    return _libc.syscall(number, *args)


def _pivot_root(root: str) -> None:
    os.chdir(root)
    os.mkdir(".oldroot")
    if _syscall("pivot_root", b".", b".oldroot") != 0:
        raise SandboxError(f"pivot_root: {os.strerror(ctypes.get_errno())}")
    os.chdir("/")
    if _libc.umount2(b"/.oldroot", MNT_DETACH) != 0:
        raise SandboxError(f"umount old root: {os.strerror(ctypes.get_errno())}")
    os.rmdir("/.oldroot")


def enter_sandbox(spec: dict) -> None:
    """New root with only what the notebook needs; loopback up. Needs mount and net namespaces."""
    root = spec["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=755")
    # The private /tmp first: whatever is bound later may live under /tmp (a checkout and its
    # virtualenv there, the data or the scratch folder) and must land on top of it, not under it.
    os.makedirs(root + "/tmp")
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1g,mode=1777")
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            os.symlink(os.readlink(d), root + d)
        elif os.path.isdir(d):
            _bind(d, root)
    for d in _python_roots():
        _bind(d, root)
    os.makedirs(root + "/dev")
    for node in DEV_NODES:
        if os.path.exists("/dev/" + node):
            _bind("/dev/" + node, root, read_only=False, device=True)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/dev/shm")
    _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777")
    os.makedirs(root + "/proc")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _bind(spec["data"], root, read_only=True)
    _bind(spec["work"], root, read_only=False)
    _loopback_up()
    _own_ipc_and_host()
    _pivot_root(root)


def _own_ipc_and_host() -> None:
    """This sandbox's host name and System V shared-memory limits (its IPC and UTS namespaces' own;
    best effort: an older kernel may not let the root of a user namespace set them)."""
    try:
        socket.sethostname(HOSTNAME)
    except OSError:
        pass
    page = os.sysconf("SC_PAGE_SIZE")
    for name, value in (("shmmax", SHM_BYTES), ("shmall", SHM_BYTES // page), ("shmmni", 64)):
        try:
            with open(f"/proc/sys/kernel/{name}", "w") as f:
                f.write(str(value))
        except OSError:
            pass


def drop_privileges(uid: int | None) -> None:
    """No capabilities, no new privileges, not dumpable; user ``uid`` (this sandbox's own) when
    started as the real root, else (``None``: root of a user namespace) no capability left."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    else:  # root of a user namespace: clear its capability sets
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        data = (ctypes.c_uint32 * 6)()
        _syscall("capset", ctypes.byref(header), ctypes.byref(data))
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the kernel (same user) cannot open /proc/<worker>/fd
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # a change of user cleared unshare's


def die_with_parent() -> None:
    """SIGKILL this process when its parent (``unshare``, or the grader) dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def set_limits(spec: dict) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails instead of killing
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = int(spec.get("max_file_bytes", 4 * 2**30))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    if spec.get("max_processes") and os.getuid() != 0:
        n = int(spec["max_processes"])
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    if spec.get("cpu_seconds"):  # no cgroup to cap the CPU rate: cap each process's CPU time
        n = int(spec["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (n, n + 5))


# ---------------------------------------------------------------------------------------------
# The notebook, in otter's grading mode
# ---------------------------------------------------------------------------------------------
INIT_CELL = """\
from otter import Notebook as {alias}
{alias}.init_grading_mode({tests_dir!r})
"""
FINAL_CELL = """\
from otter.execute import Checker as _ds201_Checker
for _ds201_t in {tests!r}:
    _ds201_Checker.check_if_not_already_checked(_ds201_t)
"""


def prepare_cells(nb: Any, spec: dict) -> list[tuple[Any, int | None]]:
    """Otter's preprocessing; each cell with its index in the submitted notebook (None: added)."""
    import nbformat

    alias = "_ds201_Notebook"
    cells: list[tuple[Any, int | None]] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        otter = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
        if "otter_ignore" in tags or otter.get("ignore", False):
            continue
        cells.append((cell, index))
        tests = otter.get("tests") if isinstance(otter.get("tests"), list) else None
        if tests:
            source = "".join(f"{alias}().check({t!r})\n" for t in tests)
            cells.append((nbformat.v4.new_code_cell(source), None))
    head = [
        (nbformat.v4.new_code_cell(f"import sys\nsys.path.append({spec['work']!r})"), None),
        (nbformat.v4.new_code_cell(INIT_CELL.format(alias=alias, tests_dir=spec["tests_dir"])), None),
    ]
    tail = [(nbformat.v4.new_code_cell(FINAL_CELL.format(tests=spec["tests"])), None)]
    return head + cells + tail


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:80]
    return ""


def _write_meta(fd: int, meta: dict) -> None:
    """Rewrite the notes file through the descriptor the parent opened (outside the sandbox)."""
    data = json.dumps(meta).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _reap_orphans(stop: threading.Event, protected: set[int]) -> None:
    """As the sandbox's PID 1 (or subreaper), collect exited orphans every half second.

    Orphans of the notebook (a daemon, a fork storm's children) are re-parented to this process;
    unreaped, their zombies would keep counting against the sandbox user's process limit. The
    kernel itself (``protected``) is left to jupyter_client, which waits for it.
    """
    me = str(os.getpid())
    while not stop.wait(0.5):
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in protected:
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if len(fields) > 1 and fields[0] == "Z" and fields[1] == me:
                try:
                    os.waitpid(int(entry), os.WNOHANG)
                except ChildProcessError:
                    pass


CHECK_CALL = re.compile(r"""\.check\(\s*(?:question\s*=\s*)?[rRuU]?["']([A-Za-z_][\w-]*)["']""")
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][\w.-]{0,99}")
MODEL_DIR = re.compile(r"m[0-9a-f]{24}")
MAX_SEAL_DEPTH = 6


class Sealer:
    """Copies what the checks saved out of the kernel's reach, right after each cell.

    ``artifacts`` is the folder the kernel's saver writes (``<question>/`` and ``models/m…/``);
    ``sealed_fd`` a directory descriptor (opened by the parent, outside the sandbox) that receives
    the copies with the same layout. A question is copied after the first cell that saved it, and
    again after a cell that checks it by name; a model folder once, when it first appears (its name
    is its content's digest). Only plain folders and regular files with plain names are copied,
    through descriptors (``O_NOFOLLOW``, a file type check after opening), up to ``max_bytes``.
    """

    def __init__(self, artifacts: str, sealed_fd: int, questions: set[str], max_bytes: int):
        self.artifacts, self.fd, self.questions, self.max_bytes = artifacts, sealed_fd, questions, max_bytes
        self.signatures: dict[str, tuple] = {}  # question -> what was sealed (folder and manifest identity)
        self.models: set[str] = set()
        self.bytes = 0
        self.problems: list[str] = []

    def _signature(self, q: str) -> tuple | None:
        try:
            d = os.stat(os.path.join(self.artifacts, q), follow_symlinks=False)
            m = os.stat(os.path.join(self.artifacts, q, "manifest.json"), follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISDIR(d.st_mode):
            return None
        return (d.st_ino, d.st_mtime_ns, m.st_ino, m.st_mtime_ns, m.st_size)

    def after_cell(self, source: str) -> None:
        """Seal what the cell that just ran (``source``) saved; never raises."""
        try:
            self._after_cell(set(CHECK_CALL.findall(source or "")))
        except Exception as e:  # a question the kernel made uncopyable is missing: the check says so
            self.problems.append(f"{type(e).__name__}: {e}"[:200])

    def _after_cell(self, named: set[str]) -> None:
        models = os.path.join(self.artifacts, "models")
        if os.path.isdir(models) and not os.path.islink(models):
            for name in sorted(os.listdir(models)):
                if MODEL_DIR.fullmatch(name) and name not in self.models:
                    self.models.add(name)
                    self._copy_tree(os.path.join("models", name))
        for q in sorted(self.questions):
            if q in self.signatures and q not in named:
                continue  # final: only a check of it by name replaces it
            sig = self._signature(q)
            if sig is None or self.signatures.get(q) == sig:
                continue
            self.signatures[q] = sig
            self._copy_tree(q)

    def _copy_tree(self, rel: str) -> None:
        """Copy ``artifacts/rel`` to ``sealed/rel`` (replacing it) through a temporary name."""
        parent, name = os.path.split(rel)
        dst_parent = self.fd
        opened = []
        try:
            if parent:
                try:
                    os.mkdir(parent, 0o700, dir_fd=self.fd)
                except FileExistsError:
                    pass
                dst_parent = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self.fd)
                opened.append(dst_parent)
            tmp = f"{name}.tmp"
            _remove_tree(dst_parent, tmp)
            src = os.open(os.path.join(self.artifacts, rel), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            opened.append(src)
            os.mkdir(tmp, 0o700, dir_fd=dst_parent)
            dst = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dst_parent)
            opened.append(dst)
            self._copy_dir(src, dst, 0)
            _remove_tree(dst_parent, name)
            os.rename(tmp, name, src_dir_fd=dst_parent, dst_dir_fd=dst_parent)
        finally:
            for fd in opened:
                os.close(fd)

    def _copy_dir(self, src: int, dst: int, depth: int) -> None:
        if depth > MAX_SEAL_DEPTH:
            return
        for entry in sorted(os.listdir(src))[:10_000]:
            if not PLAIN_NAME.fullmatch(entry):
                continue
            try:
                fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=src)
            except OSError:
                continue  # a symlink, a FIFO without writer, gone meanwhile: not copied
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(entry, 0o700, dir_fd=dst)
                    sub = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dst)
                    try:
                        self._copy_dir(fd, sub, depth + 1)
                    finally:
                        os.close(sub)
                elif stat.S_ISREG(st.st_mode):
                    self._copy_file(fd, entry, dst)
            finally:
                os.close(fd)

    def _copy_file(self, src: int, name: str, dst: int) -> None:
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dst)
        try:
            while chunk := os.read(src, 1 << 20):
                self.bytes += len(chunk)
                if self.bytes > self.max_bytes:
                    raise OSError(f"the saved answers pass {self.max_bytes} bytes")
                os.write(out, chunk)
        finally:
            os.close(out)


def _remove_tree(dir_fd: int, name: str) -> None:
    """Remove ``name`` (a folder this worker made) under ``dir_fd``, if it is there."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError:
        os.unlink(name, dir_fd=dir_fd)
        return
    try:
        for entry in os.listdir(fd):
            try:
                os.unlink(entry, dir_fd=fd)
            except IsADirectoryError:
                _remove_tree(fd, entry)
            except PermissionError:  # a folder on Linux raises EISDIR or EPERM
                _remove_tree(fd, entry)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def _kernel_pid(client: Any) -> int | None:
    provisioner = getattr(getattr(client, "km", None), "provisioner", None)
    pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
    return pid if isinstance(pid, int) else None


MAX_EXECUTED_BYTES = 50 * 2**20


def keep_executed(nb: Any, sealed_fd: int, max_bytes: int) -> None:
    """The notebook as executed here (the cells executed in place hold their outputs: the plots that
    the manual questions' review shows), written as ``executed.ipynb`` through the sealed folder's
    descriptor; left out when larger than ``max_bytes``."""
    import nbformat

    data = nbformat.writes(nb).encode()
    if len(data) > max_bytes:
        return
    fd = os.open("executed.ipynb", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600, dir_fd=sealed_fd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def run_notebook(spec: dict) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    work, meta_path = spec["work"], int(spec["meta_fd"])
    os.set_inheritable(meta_path, False)  # the kernel never gets it
    sealed_fd = int(spec["sealed_fd"])
    os.set_inheritable(sealed_fd, False)
    questions = {os.path.splitext(os.path.basename(t))[0] for t in spec["tests"]}
    sealer = Sealer(spec["artifacts"], sealed_fd, questions, int(spec.get("max_sealed_bytes", 2**30)))
    os.chdir(work)
    tmp = spec["tmp"]
    for var, sub in (("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("IPYTHONDIR", "ipython"), ("HOME", "home")):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        os.environ[var] = os.path.join(tmp, sub)
    kernel_env = {
        **spec["kernel_env"],
        "HOME": os.path.join(tmp, "home"),
        "TMPDIR": tmp,
        "JUPYTER_RUNTIME_DIR": os.path.join(tmp, "jupyter-runtime"),
        "IPYTHONDIR": os.path.join(tmp, "ipython"),
        "MPLCONFIGDIR": os.path.join(tmp, "matplotlib"),
        "KERAS_HOME": os.path.join(tmp, "keras"),
    }
    nb = nbformat.read(os.path.join(work, spec["notebook"]), as_version=4)
    cells = prepare_cells(nb, spec)
    run_nb = nbformat.v4.new_notebook(cells=[c for c, _ in cells], metadata=nb.metadata)
    meta: dict[str, Any] = {
        "errors": [],
        "cell_timeouts": [],
        "kernel_died": False,
        "running": None,
        "completed": False,
        "uid": os.getuid(),
    }
    _write_meta(meta_path, meta)
    start = time.monotonic()
    seconds: dict[str, float] = {}  # where the time went, for the bench
    meta["seconds"] = seconds
    cell_timeout = spec.get("cell_timeout")
    graders = {id(c) for c, original in cells if original is None}
    client = NotebookClient(
        run_nb,
        kernel_name="python3",
        allow_errors=True,
        # The per-cell limit is the student's: the grader's own cells (otter's set-up, the checks,
        # a slow import under load) are bounded only by the wall clock.
        timeout_func=lambda cell: None if id(cell) in graders else cell_timeout,
        interrupt_on_timeout=True,
        startup_timeout=300,
        resources={"metadata": {"path": work}},
    )
    stop_reaper, protected = threading.Event(), set()
    try:
        with client.setup_kernel(env=kernel_env):
            seconds["kernel start"] = round(time.monotonic() - start, 2)
            kernel = _kernel_pid(client)
            if kernel is not None:
                protected.add(kernel)
                threading.Thread(target=_reap_orphans, args=(stop_reaper, protected), daemon=True).start()
            for i, (cell, original) in enumerate(cells):
                if cell.cell_type != "code":
                    continue
                where = {"cell": original, "line": _first_line(cell.source)} if original is not None else {"cell": None}
                meta["running"] = where
                _write_meta(meta_path, meta)
                began = time.monotonic()
                try:
                    client.execute_cell(cell, i)
                except DeadKernelError:
                    meta["kernel_died"] = True
                    sealer.after_cell(cell.source)
                    break
                took = time.monotonic() - began
                sealer.after_cell(cell.source)
                part = "student cells" if original is not None else "grader cells"
                seconds[part] = round(seconds.get(part, 0.0) + took, 2)
                if cell_timeout and original is not None and took >= cell_timeout:
                    meta["cell_timeouts"].append(where)  # nbclient interrupted it; the notebook went on
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        meta["errors"].append({**where, "ename": str(out.get("ename", ""))[:100]})
            else:
                meta["completed"] = True
                meta["running"] = None
    except DeadKernelError:
        meta["kernel_died"] = True
    except Exception as e:  # report the worker's own failure; the parent shows it as a grader error
        meta["worker_error"] = f"{type(e).__name__}: {str(e)[:500]}"
    stop_reaper.set()
    keep_executed(nb, sealed_fd, int(spec.get("max_executed_bytes", MAX_EXECUTED_BYTES)))
    if sealer.problems:
        meta["seal_problems"] = sealer.problems[:5]
    meta["elapsed"] = round(time.monotonic() - start, 2)
    _write_meta(meta_path, meta)
    return meta


def selftest(spec: dict) -> dict:
    """What the sandbox looks like from inside (run by the parent before trusting the mode)."""
    hidden = [p for p in spec.get("must_be_hidden", []) if os.path.exists(p)]
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1).close()
        network = True
    except OSError:
        network = False
    try:
        ipc = os.readlink("/proc/self/ns/ipc")
    except OSError:
        ipc = ""
    return {
        "uid": os.getuid(),
        "visible": hidden,
        "network": network,
        "pid": os.getpid(),
        "ipc": ipc,
        "hostname": socket.gethostname(),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    test_only = args[:1] == ["--selftest"]
    with open(args[-1]) as f:
        spec = json.load(f)
    if not test_only:  # everything the worker needs is imported before the old root goes
        from . import NOT_IMPORTED_BY_GRADER, skip_imports

        skip_imports(NOT_IMPORTED_BY_GRADER)
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
        from nbclient.exceptions import DeadKernelError  # noqa: F401

    isolation = spec["isolation"]
    die_with_parent()
    if isolation in ("namespaces", "userns"):
        enter_sandbox(spec)
    if isolation == "namespaces":
        drop_privileges(int(spec["uid"]))
    elif isolation == "userns":
        drop_privileges(None)
    set_limits(spec)
    if test_only:
        print(json.dumps(selftest(spec)))
        return 0
    if isolation == "none":  # no PID namespace to end everything: adopt orphans, kill them at the end
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        run_notebook(spec)
    finally:
        if isolation == "none":
            _kill_descendants()
    return 0


def _kill_descendants() -> None:
    import psutil

    for p in psutil.Process().children(recursive=True):
        try:
            p.kill()
        except psutil.Error:
            pass


if __name__ == "__main__":
    sys.exit(main())
