"""A cell's guest on a remote host: what it needs uploaded (by content), the same vng command run there,
its console and rwdir files mirrored back into the local cell directory while it runs.

The host side of a cell (watchdog, resume, store) is unchanged: it reads the local rwdir and console
as it does for a local guest, and this module keeps them in step with the remote ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import tempfile
import threading
import time
from pathlib import Path

from harness import vm
from harness.guest import protocol
from harness.arch import Arch, get_arch, of_machine
from harness.errors import InfraError, UserError
from harness.matrix import Accel
from harness.remote.ssh import Connection, home

log = logging.getLogger(__name__)

MIRRORED = (protocol.STARTED, protocol.DONE)
"""rwdir files copied back whole once they exist; ``results.jsonl`` is copied as it grows."""
POLL_S = 0.5


def remote_root(conn: Connection) -> str:
    base = conn.host.cache
    return base if base.startswith("/") else f"{home(conn)}/{base}"


def preflight(conn: Connection, arch: Arch) -> dict[str, str]:
    """One line naming what the host lacks (python3, qemu, vng, busybox, depmod), else the tool versions."""
    host = conn.host
    script = ('for t in python3 "$1" "$2" busybox depmod tar setsid; do '
              'command -v "$t" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$t" >/dev/null 2>&1 '
              '|| echo "missing $t"; done; "$1" --version 2>&1 | head -1; "$2" --version 2>&1 | head -1; uname -m')
    out = conn.check(["sh", "-c", script, "sh", arch.qemu, host.vng], "checking the host's tools")
    missing = [ln.split(" ", 1)[1] for ln in out.splitlines() if ln.startswith("missing ")]
    if missing:
        raise InfraError(f"host {host.name} ({host.where}): {', '.join(missing)} not installed there; install "
                         "them (Debian: python3, qemu-system-*, busybox-static, kmod; pip install virtme-ng)")
    lines = out.splitlines()
    machine = lines[-1].strip() if lines else ""
    native = of_machine(machine)
    if native is not arch:
        raise UserError(f"host {host.name}: it is {machine}, so it runs {native.name if native else 'no'} cells only "
                        f"(its guests use its own root); remove {arch.name} from its arches")
    return {"qemu": lines[-3].strip() if len(lines) >= 3 else "", "vng": lines[-2].strip() if len(lines) >= 2 else ""}


def choose_accel(conn: Connection, arch: Arch) -> vm.AccelChoice:
    """KVM when the host's CPU has the flag and /dev/kvm is writable for the SSH user (``accel: auto``)."""
    setting = conn.host.accel
    if setting is Accel.TCG:
        return vm.AccelChoice(Accel.TCG, f"tcg requested for host {conn.host.name}")
    _, cpuinfo, _ = conn.run(["cat", "/proc/cpuinfo"])
    ok, why = vm.cpu_has_kvm(arch, cpuinfo)  # the flag check kvm_usable makes here; the device is over there
    if ok:
        rc, _, _ = conn.run(["test", "-w", "/dev/kvm"])
        ok, why = (rc == 0, f"/dev/kvm writable, {why}" if rc == 0 else "/dev/kvm not writable")
    why = f"{why} on host {conn.host.name}"
    if setting is Accel.KVM:
        if not ok:
            raise UserError(f"host {conn.host.name}: accel kvm requested but KVM is not usable there ({why})")
        return vm.AccelChoice(Accel.KVM, why)
    return (vm.AccelChoice(Accel.KVM, why, auto=True) if ok
            else vm.AccelChoice(Accel.TCG, f"KVM not usable ({why}), using TCG"))


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


class Stage:
    """Uploads what a cell needs, once per content: the kernel tree (by its key), the corpus (by its id,
    itself a hash of every object and veristat), the guest runner (by its files' hash)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.root = remote_root(conn)
        self.sent = 0
        """Bytes uploaded through this stage (0 when everything was there)."""

    def kernel(self, kernel) -> dict[str, str]:
        """Remote paths of the kernel's image, config and modules."""
        paths = [p for p in (kernel.image, kernel.modules, kernel.config) if p is not None]
        top = Path(os.path.commonpath([str(p) for p in paths]))
        if top.is_file():
            top = top.parent
        where = f"{self.root}/kernels/{_digest([kernel.key, kernel.arch, kernel.package_sha256])}"
        self.sent += self.conn.put_tree([(top, "k")], where)
        return {str(p): f"{where}/k/{p.relative_to(top)}" for p in paths}

    def corpus(self, corpus, objects: list[Path]) -> dict[str, str]:
        where = f"{self.root}/corpora/{corpus.id}-{corpus.arch}"
        files = [(p, f"objects/{p.name}") for p in objects] + [(Path(corpus.veristat), "veristat")]
        self.sent += self.conn.put_tree(files, where)
        out = {str(p): f"{where}/objects/{p.name}" for p in objects}
        out[str(corpus.veristat)] = f"{where}/veristat"
        return out

    def runner(self) -> str:
        with tempfile.TemporaryDirectory(prefix="bpf-harness-runner-") as d:
            staged = vm.stage_runner(Path(d))
            files = sorted(p for p in staged.rglob("*") if p.is_file())
            h = hashlib.sha256()
            for p in files:
                h.update(str(p.relative_to(staged)).encode() + b"\0" + p.read_bytes())
            where = f"{self.root}/runner/{h.hexdigest()[:20]}"
            self.sent += self.conn.put_tree([(staged / "harness", "harness")], where)
        return where


def remote_plan(plan: dict, paths: dict[str, str], remote_rw: str) -> dict:
    """The local plan with every host path replaced by its remote copy (pure)."""
    out = json.loads(json.dumps(plan))
    out["veristat"] = paths[plan["veristat"]]
    if plan.get("kconfig"):
        out["kconfig"] = paths[plan["kconfig"]]
    for o in out["objects"]:
        o["path"] = paths[o["path"]]
    return out


class RemoteGuest:
    """A running remote vng: ``poll()`` and ``stop()`` as a local Popen has, ``pid`` None (nothing local to
    reap).  Its console and rwdir files are mirrored into the local ones until it has exited."""

    pid = None

    def __init__(self, conn: Connection, argv: list[str], remote_rw: str, local_rw: Path, console: Path,
                 header: str, path_prefix: str = ""):
        self.conn = conn
        self.remote_rw = remote_rw
        self.local_rw = local_rw
        self.pidfile = f"{remote_rw}/../guest.pid"
        self.lost: str | None = None
        """Why the connection went away while the guest ran (an infrastructure error for the cell)."""
        self._exit: int | None = None
        self._stopped = threading.Event()
        # Its own process group, killed whole by stop(); and by itself when the SSH connection goes away
        # (the channel's stdin then ends), so a dropped connection leaves no guest behind.  vng needs
        # depmod from sbin and, from a venv, its own bin dir.
        script = (f'PATH={shlex.quote(path_prefix)}"$PATH":/usr/sbin:/sbin; export PATH; echo $$ > "$0"; '
                  # sh gives a background job /dev/null as stdin: hand it the channel's on fd 3
                  'exec 3<&0; (cat <&3 >/dev/null; kill -KILL -$$) >/dev/null 2>&1 & "$@" </dev/null 3<&-; exit $?')
        wrapped = ["setsid", "--wait", "sh", "-c", script, self.pidfile, *argv]
        self.reproducer = f"ssh -p {conn.host.port} {conn.host.user}@{conn.host.address} {shlex.quote(shlex.join(argv))}"
        console.parent.mkdir(parents=True, exist_ok=True)
        self._console = open(console, "wb")
        self._console.write(f"# reproduce: {self.reproducer}\n# host: {conn.host.name} ({conn.host.where})\n"
                            f"{header}".encode())
        self._console.flush()
        self.chan = conn.exec(wrapped)
        self._offset = 0
        self.thread = threading.Thread(target=self._mirror, name=f"mirror-{conn.host.name}", daemon=True)
        self.thread.start()

    def _sync(self) -> None:
        got = self.conn.read_from(f"{self.remote_rw}/{protocol.RESULTS}", self._offset)
        if got:
            cut = got.rfind(b"\n") + 1  # whole records only
            if cut:
                with open(self.local_rw / protocol.RESULTS, "ab") as f:
                    f.write(got[:cut])
                self._offset += cut
        for name in MIRRORED:
            local = self.local_rw / name
            if not local.exists():
                data = self.conn.read_from(f"{self.remote_rw}/{name}", 0)
                if data:
                    tmp = local.with_suffix(".part")
                    tmp.write_bytes(data)
                    tmp.replace(local)

    def _drain_console(self) -> None:
        while self.chan.recv_ready():
            self._console.write(self.chan.recv(65536))
        self._console.flush()

    def _mirror(self) -> None:
        try:
            while True:
                self._drain_console()
                self._sync()
                if self.chan.exit_status_ready():
                    self._drain_console()
                    self._sync()
                    self._exit = self.chan.recv_exit_status()
                    return
                if self.chan.closed or not self.conn.client.get_transport().is_active():  # type: ignore[union-attr]
                    raise EOFError("the SSH connection closed")
                if self._stopped.wait(POLL_S):
                    return
        except Exception as e:  # a dropped connection, a rebooted host: what arrived is kept
            self.lost = f"connection to host {self.conn.host.name} lost while the guest ran ({type(e).__name__}: {e})"
            self._exit = 255
        finally:
            self._console.close()

    def poll(self) -> int | None:
        return self._exit

    def stop(self) -> None:
        """Kill the guest if it still runs, take the last of its output, and remove its run directory on the
        host (everything in it has been mirrored here)."""
        try:
            if self._exit is None:
                self.conn.run(["sh", "-c", 'kill -KILL -- "-$(cat "$0")" 2>/dev/null; true', self.pidfile], timeout=20)
            self._stopped.set()
            self.thread.join(timeout=30)  # the last of its output, before its directory goes
            if not self.lost:
                self.conn.run(["rm", "-rf", self.remote_rw.rsplit("/", 1)[0]], timeout=60)
        except Exception as e:  # the host is gone: nothing left to kill or remove there
            log.warning("host %s: could not stop the guest: %s", self.conn.host.name, e)
        finally:
            self._stopped.set()  # a no-op unless the host failed above
            self.thread.join(timeout=30)
            self.chan.close()

    def join(self, timeout: float | None = None) -> None:  # the local tee thread's interface
        self.thread.join(timeout)


def launch(conn: Connection, stage: Stage, job, accel: vm.AccelChoice, plan: dict, local_rw: Path,
           console: Path, header: str, cell_dir_name: str) -> RemoteGuest:
    """Upload what the cell needs, write its plan on the host, start vng there."""
    arch = get_arch(job.kernel.arch)
    kpaths = stage.kernel(job.kernel)
    objects = [Path(o["path"]) for o in plan["objects"]]
    cpaths = stage.corpus(job.corpus, objects)
    runner = stage.runner()
    remote_rw = f"{stage.root}/runs/{cell_dir_name}-{int(time.time() * 1000)}/rw"
    conn.check(["mkdir", "-p", remote_rw], "creating the cell's rwdir")
    rplan = remote_plan(plan, {**kpaths, **cpaths}, remote_rw)
    with conn.sftp.open(f"{remote_rw}/{protocol.PLAN}", "wb") as f:
        f.write(json.dumps(rplan).encode())
    argv = vm.vng_argv(vng=conn.host.vng, image=Path(kpaths[str(job.kernel.image)]), arch=arch, accel=accel.accel,
                       cpus=job.vm.cpus, memory=job.vm.memory, rwdir=Path(remote_rw),
                       guest=vm.guest_argv(Path(f"{remote_rw}/{protocol.PLAN}"), python="python3", pkg_root=Path(runner)))
    prefix = f"{Path(conn.host.vng).parent}:" if "/" in conn.host.vng else ""
    return RemoteGuest(conn, argv, remote_rw, local_rw, console, header, prefix)
