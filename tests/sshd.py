"""A real OpenSSH server on this machine as a remote host: its own host key, a client key made for it, a
free port on 127.0.0.1.  Used by tests/integration/test_remote.py and ci/bench_remote.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.matrix import Host

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, d: Path):
        if not SSHD.exists():
            raise RuntimeError("openssh-server is not installed: run ci/setup.sh --tests")
        self.dir = d
        for name in ("hostkey", "other_hostkey", "client"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_text((d / "client.pub").read_text())
        (d / "authorized_keys").chmod(0o600)
        self.port = free_port()
        (d / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {d / 'hostkey'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
            "StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")],
                                     stderr=open(d / "sshd.log", "wb"))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"sshd did not start: {(d / 'sshd.log').read_text()}")
        for name, key in (("known_hosts", "hostkey"), ("changed_known_hosts", "other_hostkey")):
            kind, blob = (d / f"{key}.pub").read_text().split()[:2]
            (d / name).write_text(f"[127.0.0.1]:{self.port} {kind} {blob}\n")
        (d / "empty_known_hosts").write_text("")

    def host(self, known: str = "known_hosts", cache: str = "remote-cache", **kw) -> Host:
        return Host("lab", "root", "127.0.0.1", self.port, ("x86_64",), self.dir / known, key=self.dir / "client",
                    vng=str(Path(sys.executable).parent / "vng"), cache=str(self.dir / cache), **kw)

    def matrix_hosts(self, cache: str = "remote-cache") -> str:
        """The ``hosts:`` section of a matrix naming this server."""
        h = self.host(cache=cache)
        return (f"hosts:\n  lab:\n    ssh: root@127.0.0.1:{self.port}\n    key: {h.key}\n"
                f"    known_hosts: {h.known_hosts}\n    arches: [x86_64]\n    vng: {h.vng}\n    cache: {h.cache}\n")

    @property
    def pid(self) -> int:
        return int((self.dir / "sshd.pid").read_text())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
