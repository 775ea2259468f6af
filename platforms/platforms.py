"""``make platforms``: the autograder zip graded on the two platforms instructors use, on this machine.

(a) ``otter grade`` with a real Docker engine: Debian's ``docker.io`` (daemon with its own data root
    and socket, client called by its full path) and the buildx plugin from Debian trixie's
    ``docker-buildx``; the base image is an Ubuntu 22.04 root (otter's default base, ``ubuntu:22.04``)
    made with ``debootstrap`` and ``docker import`` (Docker Hub is unreachable), passed with ``--image``.
(b) Gradescope's harness, emulated: the zip unpacked into ``/autograder/source`` of the same
    Ubuntu 22.04 root (Gradescope's base image), ``setup.sh`` run there once (network on), then per submission ``/autograder/run_autograder``
    in namespaces (bubblewrap, network off) under the README's memory limit (a cgroup), and
    ``/autograder/results/results.json`` checked against Gradescope's format.

Each grades the same folder (the executed solution, the blank student notebook, an export zip with
one wrong answer) as ``make grade``; every score must equal ``make grade``'s. The zip is
``autograder/lab1-autograder.zip`` plus the datasets (``build.data_zip``: no dataset host is
reachable here). Prints a table (platform, submission, score, make grade's score, peak memory,
wall time); exits 1 when a score differs or a check fails. Stops every daemon and container it
started and leaves nothing mounted. Debootstrap roots, images and make grade's executions are kept
in ``CACHE`` (``/var/cache/ds201-platforms``) so reruns are faster; from nothing it installs its apt
packages itself (root only).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from ds201_lab1 import build, manual  # noqa: E402

CACHE = Path(os.environ.get("DS201_PLATFORMS_CACHE", "/var/cache/ds201-platforms"))
MIRROR = "http://deb.debian.org/debian"  # docker-buildx from trixie
# The grading roots are Ubuntu 22.04, as Gradescope's base image and otter grade's default
# (ubuntu:22.04), with that image's apt sources (universe holds python3.11).
SUITE = "jammy"
UBUNTU = "http://archive.ubuntu.com/ubuntu"
UBUNTU_SOURCES = (
    f"deb {UBUNTU}/ jammy main restricted universe multiverse\n"
    f"deb {UBUNTU}/ jammy-updates main restricted universe multiverse\n"
    "deb http://security.ubuntu.com/ubuntu/ jammy-security main restricted universe multiverse\n"
)
# Debian has no Ubuntu keyring package: Ubuntu's own, pinned by digest, and its archive key by fingerprint.
UBUNTU_KEYRING_DEB = ("pool/main/u/ubuntu-keyring/ubuntu-keyring_2021.03.26_all.deb",
                      "0d0e7ed6b112f5d03eabf3c7eb01ebdacf9c57714b279e90495cfc58c8c4520f")  # fmt: skip
UBUNTU_ARCHIVE_KEY = "F6ECB3762474EDA9D21B7022871920D1991BC93C"  # Ubuntu Archive Automatic Signing Key (2018)
APT_PACKAGES = ("docker.io", "debootstrap", "bubblewrap", "iptables", "gpg", "curl")
BUILDX = Path("/usr/libexec/docker/cli-plugins/docker-buildx")
DOCKER = "/usr/bin/docker"  # docker.io's client; another one may sit earlier in PATH
DOCKER_ROOT = Path("/var/lib/ds201-docker")
DOCKER_EXEC_ROOT = Path("/run/ds201-docker")
DOCKER_SOCK = "unix:///run/ds201-docker.sock"
DOCKER_PID = Path("/run/ds201-docker.pid")
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")
GIB = 2**30

# What the README tells instructors to set (README, "Gradescope"): the emulation enforces it.
GRADESCOPE_MEMORY_GIB = 6
OTTER_GRADE_CONTAINERS = 1  # two cores shared here; the README sizes --containers by memory


def log(msg: str) -> None:
    print(f"[platforms {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


# ---------------------------------------------------------------------------------------------
# packages, roots, inputs


def ensure_packages() -> None:
    """docker.io, debootstrap, bubblewrap from bookworm; docker-buildx from trixie (bookworm has none)."""
    missing = [p for p in APT_PACKAGES if run(["dpkg", "-s", p], capture_output=True, check=False).returncode]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if missing:
        log(f"installing {' '.join(missing)} (apt)")
        run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env, stdout=subprocess.DEVNULL)
    if not BUILDX.exists():
        # trixie's lists in a private folder: the machine's apt sources stay as they are
        apt = CACHE / "apt-trixie"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(f"deb {MIRROR} trixie main\n")
        opts = [
            f"-oDir::Etc::SourceList={apt / 'sources.list'}",
            "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={apt / 'lists'}",
            "-oDir::Cache::pkgcache=",
            "-oDir::Cache::srcpkgcache=",
            "-oAPT::Sandbox::User=root",
        ]
        log("installing docker-buildx from Debian trixie")
        run(["apt-get", *opts, "update", "-q"], stdout=subprocess.DEVNULL)
        for old in apt.glob("docker-buildx_*.deb"):
            old.unlink()
        run(["apt-get", *opts, "download", "docker-buildx"], cwd=apt, stdout=subprocess.DEVNULL)
        run(["dpkg", "-i", *map(str, apt.glob("docker-buildx_*.deb"))], stdout=subprocess.DEVNULL)


def ubuntu_keyring() -> Path:
    """Ubuntu's archive keyring (from its ubuntu-keyring package), checked by digest and fingerprint."""
    keyring = CACHE / "ubuntu-archive-keyring.gpg"
    if not keyring.is_file():
        path, digest = UBUNTU_KEYRING_DEB
        deb = CACHE / Path(path).name
        run(["curl", "-fsS", "-m", "120", "-o", str(deb), f"{UBUNTU}/{path}"])
        if hashlib.sha256(deb.read_bytes()).hexdigest() != digest:
            raise RuntimeError(f"{deb}: not the pinned ubuntu-keyring package (sha256 differs)")
        unpacked = CACHE / "ubuntu-keyring"
        shutil.rmtree(unpacked, ignore_errors=True)
        run(["dpkg-deb", "-x", str(deb), str(unpacked)])
        shutil.copyfile(unpacked / "usr/share/keyrings/ubuntu-archive-keyring.gpg", keyring)
        shutil.rmtree(unpacked)
        deb.unlink()
    keys = run(["gpg", "--show-keys", "--with-colons", str(keyring)], capture_output=True, text=True).stdout
    if f"fpr:::::::::{UBUNTU_ARCHIVE_KEY}:" not in keys:
        raise RuntimeError(f"{keyring} lacks Ubuntu's archive key {UBUNTU_ARCHIVE_KEY}")
    return keyring


def base_root() -> Path:
    """A minimal Ubuntu 22.04 root (debootstrap --variant=minbase) with the apt sources of Docker's
    ubuntu:22.04, made once."""
    root = CACHE / "roots" / f"{SUITE}-minbase"
    if not (root / "etc" / "os-release").exists():
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        log(f"debootstrap {SUITE} into {root}")
        cmd = ["debootstrap", f"--keyring={ubuntu_keyring()}", "--variant=minbase", SUITE, str(tmp), UBUNTU]
        run(cmd, stdout=subprocess.DEVNULL)
        (tmp / "etc" / "apt" / "sources.list").write_text(UBUNTU_SOURCES)
        tmp.rename(root)
    site_trust(root)
    return root


HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SITE_CA = "usr/local/share/ca-certificates/ds201-host-trust.crt"
# This machine reaches PyPI through a TLS proxy whose CA only the host's bundle holds: the roots get
# that bundle (ca-certificates, which setup.sh installs, merges it) and pip is pointed at the merged
# bundle. Gradescope and a normal Docker host need neither; the zip is unchanged.
SITE_ENV = {"PIP_CERT": "/etc/ssl/certs/ca-certificates.crt"}


def site_trust(root: Path) -> None:
    """Copy the host's CA bundle into the root's local CA folder (see SITE_ENV)."""
    if HOST_BUNDLE.is_file():
        dest = root / SITE_CA
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_bytes() != HOST_BUNDLE.read_bytes():
            shutil.copyfile(HOST_BUNDLE, dest)


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def make_inputs(work: Path) -> tuple[Path, Path]:
    """The data zip and the submissions folder (solution, blank notebook, one-wrong export zip)."""
    import grade_fixtures
    import nbformat

    solution = ROOT / "solutions" / "lab1.ipynb"
    name = nbformat.read(solution, as_version=4).metadata.get("otter", {}).get("assignment_name")
    if name != build.NAME:
        sys.exit(f"{solution} has assignment_name {name!r}, not {build.NAME!r}: run `make assignment` first")
    ag_zip = work / "dist" / "lab1-autograder-data.zip"  # the README's path, relative to work
    build.data_zip(ROOT / "autograder" / build.ZIP_NAME, ag_zip)
    subs = work / "submissions"
    subs.mkdir(parents=True)
    shutil.copy(solution, subs / "solution.ipynb")
    shutil.copy(ROOT / "student" / "lab1.ipynb", subs / "blank.ipynb")
    grade_fixtures.export_zip(grade_fixtures.one_wrong(), subs / "one_wrong.zip")
    return ag_zip, subs


def make_grade(subs: Path) -> dict[str, float]:
    """``make grade`` on the folder (its cache is kept between runs): file -> total points."""
    out = CACHE / "make-grade"
    log(f"make grade SUBMISSIONS={subs} OUT={out}")
    run(["make", "-C", str(ROOT), "grade", f"SUBMISSIONS={subs}", f"OUT={out}", "JOBS=1"])
    return read_otter_csv(out / "final_grades.csv")


def read_otter_csv(path: Path) -> dict[str, float]:
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"] != "points-per-question"]
    return {r["file"]: float(r["total_points_earned"]) for r in rows}


def statuses(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {r["file"]: r["grading_status"] for r in csv.DictReader(f) if r["file"] != "points-per-question"}


# ---------------------------------------------------------------------------------------------
# (a) otter grade with Docker


@contextlib.contextmanager
def dockerd():
    """Our own dockerd (own data root, exec root, socket, pid file); stopped by its pid afterwards."""
    had_bridge = Path("/sys/class/net/docker0").exists()
    iptables = {cmd: run([cmd], capture_output=True, text=True, check=False).stdout for cmd in ("iptables-save",)}
    for d in (DOCKER_ROOT, DOCKER_EXEC_ROOT):
        d.mkdir(parents=True, exist_ok=True)
    logf = open(CACHE / "dockerd.log", "ab")
    proc = subprocess.Popen(
        ["/usr/sbin/dockerd", "--data-root", str(DOCKER_ROOT), "--exec-root", str(DOCKER_EXEC_ROOT),
         "--pidfile", str(DOCKER_PID), "-H", DOCKER_SOCK],
        stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(60):
            if run([DOCKER, "-H", DOCKER_SOCK, "version"], capture_output=True, check=False).returncode == 0:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"dockerd exited ({proc.returncode}); see {CACHE / 'dockerd.log'}")
            time.sleep(1)
        else:
            raise RuntimeError(f"dockerd did not answer on {DOCKER_SOCK}; see {CACHE / 'dockerd.log'}")
        log(f"dockerd {proc.pid} up on {DOCKER_SOCK} (data root {DOCKER_ROOT})")
        yield proc
    finally:
        left = run([DOCKER, "-H", DOCKER_SOCK, "ps", "-aq"], capture_output=True, text=True, check=False).stdout.split()
        if left:
            run([DOCKER, "-H", DOCKER_SOCK, "rm", "-f", *left], capture_output=True, check=False)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
        log(f"dockerd {proc.pid} stopped")
        if not had_bridge and Path("/sys/class/net/docker0").exists():
            run(["ip", "link", "delete", "docker0"], check=False)
        # back to the rules from before dockerd (it adds chains, NAT and FORWARD's DROP policy)
        before = iptables["iptables-save"]
        for table, chains in (("filter", "INPUT FORWARD OUTPUT"), ("nat", "PREROUTING INPUT OUTPUT POSTROUTING")):
            if f"*{table}" not in before:
                before += f"*{table}\n" + "".join(f":{c} ACCEPT [0:0]\n" for c in chains.split()) + "COMMIT\n"
        run(["iptables-restore"], input=before, text=True, check=False)


def docker_env() -> dict[str, str]:
    """PATH whose ``docker`` is docker.io's (otter calls ``docker`` through python-on-whales)."""
    bindir = CACHE / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    link = bindir / "docker"
    if not link.is_symlink():
        link.symlink_to(DOCKER)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "DOCKER_HOST": DOCKER_SOCK}


BASE_IMAGE = f"ds201-base:{SUITE}"  # the README's `otter grade --image`


def base_image(root: Path) -> str:
    """``docker import`` of the debootstrap root as ``BASE_IMAGE``, again only when the root changed."""
    stamp = sha(root / "var" / "lib" / "dpkg" / "status")[:6] + sha(root / SITE_CA)[:6]
    env = docker_env()
    have = run([DOCKER, "image", "inspect", "-f", '{{index .Config.Labels "ds201.stamp"}}', BASE_IMAGE],
               env=env, capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    if have != stamp:
        log(f"docker import {root} as {BASE_IMAGE}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        changes = [f"--change=ENV {k}={v}" for k, v in SITE_ENV.items()] + [f"--change=LABEL ds201.stamp={stamp}"]
        run([DOCKER, "import", *changes, "-", BASE_IMAGE], env=env, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        tar.wait()
    return BASE_IMAGE


def readme_otter_grade_commands() -> list[list[str]]:
    """The README's `otter grade` commands, as argument lists."""
    readme = (ROOT / "README.md").read_text()
    lines = [ln.strip() for block in re.findall(r"```bash\n(.*?)```", readme, re.S) for ln in block.splitlines()]
    return [shlex.split(ln.split("  #")[0]) for ln in lines if ln.startswith(".venv/bin/otter grade")]


class CgroupPoller(threading.Thread):
    """Peak memory and lifetime of every Docker container (cgroup v1 memory controller), sampled each second.

    ``seen[container id] = (first seen, last seen, peak bytes, submission)``: the submission is read
    from the container's own /autograder/submission (otter copies it in before starting it), so no
    log line is needed.
    """

    def __init__(self, parent: Path):
        super().__init__(daemon=True)
        self.parent, self.seen, self.stop = parent, {}, threading.Event()

    def _submission(self, cid: str) -> str:
        merged = run([DOCKER, "-H", DOCKER_SOCK, "inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", cid],
                     capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
        names = [p.name for p in Path(merged, "autograder", "submission").glob("*") if p.suffix in (".ipynb", ".zip")]
        return names[0] if len(names) == 1 else ""

    def run(self):
        while not self.stop.is_set():
            for cg in self.parent.glob("*/memory.max_usage_in_bytes") if self.parent.is_dir() else []:
                try:
                    peak = int(cg.read_text())
                except (OSError, ValueError):
                    continue
                cid = cg.parent.name
                first, _, old, name = self.seen.get(cid, (time.monotonic(), 0, 0, ""))
                name = name or self._submission(cid)
                self.seen[cid] = (first, time.monotonic(), max(old, peak), name)
            self.stop.wait(1)


def otter_grade(argv: list[str], work: Path) -> list[dict]:
    """One of the README's ``otter grade`` commands, run in ``work`` (``--containers`` set to ours)."""
    argv = [str(ROOT / ".venv" / "bin" / "otter"), *argv[1:]]
    argv[argv.index("--containers") + 1] = str(OTTER_GRADE_CONTAINERS)
    if argv[argv.index("--image") + 1] != BASE_IMAGE:
        raise RuntimeError(f"the README's otter grade command should pass --image {BASE_IMAGE}")
    out, ext = work / argv[argv.index("-o") + 1], argv[argv.index("--ext") + 1]
    out.mkdir(parents=True, exist_ok=True)
    log(f"in {work}: " + shlex.join(argv))
    poller = CgroupPoller(CGROUP_MEMORY / "docker")
    poller.start()
    start = time.monotonic()
    proc = run(argv, cwd=work, env=docker_env(), capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    poller.stop.set()
    poller.join()
    (out / "otter-grade.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        raise RuntimeError(f"otter grade failed ({proc.returncode}); see {out / 'otter-grade.log'}")
    scores, status = read_otter_csv(out / "final_grades.csv"), statuses(out / "final_grades.csv")
    measured = {name: (last - first, peak) for first, last, peak, name in poller.seen.values() if name}
    rows = []
    for name in sorted(scores):
        wall, peak = measured.get(name, (0, 0))  # 0: the container came and went between two samples
        rows.append({"platform": f"otter grade --ext {ext}", "submission": name, "score": scores[name],
                     "status": status[name], "peak": peak, "wall": wall})  # fmt: skip
    log(f"otter grade --ext {ext}: {len(scores)} graded in {wall:.0f} s (image build included)")
    return rows


def platform_otter_grade(root: Path, work: Path) -> list[dict]:
    commands = readme_otter_grade_commands()
    if len(commands) != 2:
        raise RuntimeError(f"expected the README's two otter grade commands, found {len(commands)}")
    with dockerd():
        base_image(root)
        rows = []
        for argv in commands:
            rows += otter_grade(argv, work)
        return rows


# ---------------------------------------------------------------------------------------------
# (b) Gradescope's harness, emulated


@contextlib.contextmanager
def memory_cgroup(name: str, limit_bytes: int | None):
    """A cgroup-v1 memory group: yields its folder; removed afterwards (it must be empty by then)."""
    cg = CGROUP_MEMORY / f"ds201-platforms-{os.getpid()}-{name}"
    cg.mkdir()
    try:
        if limit_bytes:
            (cg / "memory.limit_in_bytes").write_text(str(limit_bytes))
        yield cg
    finally:
        for _ in range(50):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.2)


def bwrap(root: Path, argv: list[str], *, binds: dict[str, Path], network: bool, rw_root: bool,
          cgroup: Path, env: dict[str, str], log_path: Path) -> tuple[int, float, int, bool]:  # fmt: skip
    """Run ``argv`` in ``root`` with namespaces inside ``cgroup``; (exit status, wall s, peak bytes, OOM-killed)."""
    cmd = ["bwrap", "--bind" if rw_root else "--ro-bind", str(root), "/", "--proc", "/proc", "--dev", "/dev",
           # every namespace but the user one (as root, apt's _apt sandbox needs real uids), as root
           "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
           "--cap-add", "ALL", "--hostname", "autograder", "--clearenv"]  # fmt: skip
    if network:
        cmd += ["--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf"]
    else:
        cmd += ["--unshare-net"]
    for inside, outside in binds.items():
        cmd += ["--bind", str(outside), inside]
    for k, v in {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                 "LANG": "C.UTF-8", **env}.items():  # fmt: skip
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", "/autograder", *argv]
    start = time.monotonic()
    with open(log_path, "wb") as logf:
        proc = subprocess.run(
            ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup), *cmd],
            stdout=logf, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    wall = time.monotonic() - start
    peak = int((cgroup / "memory.max_usage_in_bytes").read_text())
    oom = "oom_kill 0" not in (cgroup / "memory.oom_control").read_text() and int((cgroup / "memory.failcnt").read_text()) > 0
    return proc.returncode, wall, peak, oom


def gradescope_image(ag_zip: Path, root: Path, work: Path) -> tuple[Path, dict]:
    """The root with the zip in /autograder/source and setup.sh run (network on), cached per zip."""
    image = CACHE / "roots" / f"gradescope-{root.name}-{sha(ag_zip)}"
    info_path = image.with_suffix(".json")
    if image.is_dir() and info_path.is_file():
        log(f"gradescope image {image} (cached)")
        return image, json.loads(info_path.read_text())
    tmp = image.with_name(image.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"gradescope image: copying {root}, unzipping the autograder into /autograder/source")
    run(["cp", "-a", str(root), str(tmp)])
    # what a container runtime provides (Gradescope's and otter's images run in Docker): /etc/hosts
    (tmp / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    ag = tmp / "autograder"
    for d in ("source", "submission", "results"):
        (ag / d).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(ag_zip) as z:
        z.extractall(ag / "source")
    shutil.copy(ag / "source" / "run_autograder", ag / "run_autograder")
    (ag / "run_autograder").chmod(0o755)
    log("gradescope image: bash /autograder/source/setup.sh (network on)")
    with memory_cgroup("setup", None) as cg:
        status, wall, peak, _ = bwrap(
            tmp, ["bash", "/autograder/source/setup.sh"], binds={}, network=True,
            rw_root=True, cgroup=cg, env=SITE_ENV, log_path=work / "gradescope-setup.log",
        )  # fmt: skip
    if status:
        raise RuntimeError(f"setup.sh failed ({status}); see {work / 'gradescope-setup.log'}")
    info = {"wall": wall, "peak": peak}
    tmp.rename(image)
    info_path.write_text(json.dumps(info))
    return image, info


VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def gradescope_problems(results: dict) -> list[str]:
    """What in ``results`` breaks Gradescope's results.json format (tests, score, max_score, visibility …)."""
    bad = []
    num = (int, float)
    if not isinstance(results, dict):
        return ["results.json is not a JSON object"]
    tests = results.get("tests", [])
    if not isinstance(tests, list):
        bad.append("'tests' is not a list")
        tests = []
    if "score" in results and not isinstance(results["score"], num):
        bad.append("'score' is not a number")
    # A test without "score" is text only (otter's "Public Tests" summary); then the tests that have
    # one make the total, so some test must have one when there is no top-level score.
    if "score" not in results and not any(isinstance(t, dict) and "score" in t for t in tests):
        bad.append("no top-level 'score' and no test with a 'score'")
    for key in ("visibility", "stdout_visibility"):
        if key in results and results[key] not in VISIBILITY:
            bad.append(f"{key} {results[key]!r} not one of {sorted(VISIBILITY)}")
    for i, t in enumerate(tests):
        if not isinstance(t, dict):
            bad.append(f"tests[{i}] is not an object")
            continue
        for key in ("score", "max_score"):
            if key in t and not isinstance(t[key], num):
                bad.append(f"tests[{i}].{key} is not a number")
        if ("score" in t) != ("max_score" in t) and "score" in t and "score" not in results:
            bad.append(f"tests[{i}] has a score but no max_score")
        if t.get("visibility", "visible") not in VISIBILITY:
            bad.append(f"tests[{i}].visibility {t['visibility']!r}")
        if t.get("status", "passed") not in {"passed", "failed"}:
            bad.append(f"tests[{i}].status {t['status']!r}")
        for key in ("name", "output"):
            if key in t and not isinstance(t[key], str):
                bad.append(f"tests[{i}].{key} is not a string")
    return bad


def gradescope_score(results: dict) -> float:
    if "score" in results:
        return float(results["score"])
    return float(sum(t.get("score", 0) for t in results["tests"]))


def gradescope_run(image: Path, submission: Path, work: Path, *, hide_data: bool = False) -> dict:
    """One submission as Gradescope runs it: fresh /autograder, run_autograder, results.json read back."""
    label = submission.name + (" (datasets hidden)" if hide_data else "")
    run_dir = work / "gradescope" / re.sub(r"\W", "_", label)
    shutil.rmtree(run_dir, ignore_errors=True)
    ag = run_dir / "autograder"
    shutil.copytree(image / "autograder", ag, symlinks=True)
    shutil.rmtree(ag / "submission")
    (ag / "submission").mkdir()
    if submission.suffix == ".zip":  # Gradescope unpacks an uploaded zip into /autograder/submission
        with zipfile.ZipFile(submission) as z:
            z.extractall(ag / "submission")  # zipfile drops absolute paths and ".." parts
    else:
        shutil.copy(submission, ag / "submission" / submission.name)
    (ag / "submission_metadata.json").write_text("{}")
    if not hide_data:  # the manual questions' PDF (README, "Manual questions"), made as otter would upload it
        config = ag / "source" / "otter_config.json"
        config.write_text(json.dumps(json.loads(config.read_text()) | MANUAL_PDF_CONFIG))
    binds = {"/autograder": ag, "/tmp": run_dir / "tmp", "/root": run_dir / "home"}
    for d in ("tmp", "home", "empty"):
        (run_dir / d).mkdir()
    if hide_data:
        binds["/opt/ds201-data"] = run_dir / "empty"
    with memory_cgroup(re.sub(r"\W", "_", label), GRADESCOPE_MEMORY_GIB * GIB) as cg:
        status, wall, peak, oom = bwrap(image, ["/autograder/run_autograder"], binds=binds, network=False,
                                        rw_root=False, cgroup=cg, env={}, log_path=run_dir / "stdout")  # fmt: skip
    row = {"platform": f"gradescope ({GRADESCOPE_MEMORY_GIB} GiB)", "submission": label, "peak": peak, "wall": wall}
    results_path = ag / "results" / "results.json"
    if not results_path.is_file():
        return row | {"score": None, "status": f"no results.json (exit {status}{', OOM-killed' if oom else ''})"}
    results = json.loads(results_path.read_text())
    problems = gradescope_problems(results)
    note = "; ".join(problems) if problems else "results.json valid"
    if hide_data:
        note = results.get("output", "")[:60] + "…"
    else:
        pages, wanted = manual_pdf_pages(ag / "submission"), len(manual.manual_questions())
        if pages != wanted:
            problems.append(f"manual answers' PDF has {pages} pages, not {wanted}")
        note = "; ".join(problems) if problems else f"results.json valid; manual PDF {pages} pages"
    return row | {"score": gradescope_score(results), "status": note, "format_ok": not problems}


# otter uploads the submission's own PDF (use_submission_pdf); "pdf" stands in for the token,
# whose upload needs Gradescope (tests/test_review.py fakes that one call).
MANUAL_PDF_CONFIG = {"pdf": True, "use_submission_pdf": True}


def manual_pdf_pages(folder: Path) -> int | None:
    """Pages of the one PDF run_otter.py left in the submission folder (None: not exactly one)."""
    from pypdf import PdfReader

    pdfs = list(folder.glob("*.pdf"))
    return len(PdfReader(pdfs[0]).pages) if len(pdfs) == 1 else None


def platform_gradescope(ag_zip: Path, subs: Path, root: Path, work: Path) -> list[dict]:
    image, info = gradescope_image(ag_zip, root, work)
    rows = [{"platform": "gradescope setup.sh", "submission": "—", "score": None, "status": "image built",
             "peak": info["peak"], "wall": info["wall"]}]  # fmt: skip
    for sub in sorted(subs.iterdir()):
        rows.append(gradescope_run(image, sub, work))
    rows.append(gradescope_run(image, subs / "blank.ipynb", work, hide_data=True))
    return rows


# ---------------------------------------------------------------------------------------------


def leftovers() -> list[str]:
    """Mounts, daemons and cgroups of ours still there (must be none)."""
    mounts = [ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines() if "ds201" in ln.split()[1]]
    daemons = run(["pgrep", "-f", f"dockerd --data-root {DOCKER_ROOT}"], capture_output=True, text=True, check=False)
    groups = [str(p) for p in CGROUP_MEMORY.glob(f"ds201-platforms-{os.getpid()}-*")]
    return mounts + [f"dockerd pid {p}" for p in daemons.stdout.split()] + groups


def table(rows: list[dict], reference: dict[str, float]) -> tuple[str, bool]:
    lines = [
        "| platform | submission | score | make grade | peak memory | wall time | status |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    ok = True
    for r in rows:
        name = r["submission"]
        ref = reference.get(name)
        expected = 0.0 if "datasets hidden" in name else ref
        if r["platform"].endswith("setup.sh"):
            same = True
        elif r["status"].startswith("FAILED"):
            same = False
        else:
            same = r["score"] is not None and expected is not None and abs(r["score"] - expected) < 1e-9
            same = same and r.get("format_ok", True)
        ok &= same
        fmt = lambda x: "—" if x is None else f"{x:g}"  # noqa: E731
        lines.append(
            f"| {r['platform']} | {name} | {fmt(r['score'])} | {fmt(ref)} | {r['peak'] / GIB:.2f} GiB "
            f"| {r['wall']:.0f} s | {'' if same else 'MISMATCH: '}{r['status']} |"
        )
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["otter-grade", "gradescope"], help="one platform only")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("make platforms needs root (apt, dockerd, namespaces, cgroups)")
    start = time.monotonic()
    ensure_packages()
    root = base_root()
    work = CACHE / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ag_zip, subs = make_inputs(work)
    reference = make_grade(subs)
    rows: list[dict] = []
    for name, prove in (("otter-grade", lambda: platform_otter_grade(root, work)),
                        ("gradescope", lambda: platform_gradescope(ag_zip, subs, root, work))):  # fmt: skip
        if args.only in (None, name):
            try:
                rows += prove()
            except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                log(f"{name} failed: {e}")
                rows.append({"platform": name, "submission": "—", "score": None, "status": f"FAILED: {e}",
                             "peak": 0, "wall": 0})  # fmt: skip
    left = leftovers()
    text, ok = table(rows, reference)
    print(text)
    print(f"\nleft running or mounted: {', '.join(left) or 'nothing'}; total {time.monotonic() - start:.0f} s")
    return 0 if ok and not left else 1


if __name__ == "__main__":
    sys.exit(main())
