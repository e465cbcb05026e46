"""One SSH connection to a matrix host (paramiko): pinned host keys, commands as argv, tar uploads.

paramiko rather than the ssh client: the host key policy, the channels (a guest's console streams
back while its results are read over SFTP on the same connection) and the errors are in-process, and
the remote host needs nothing but sshd, python3, qemu and vng.
"""

from __future__ import annotations

import io
import logging
import shlex
import socket
import tarfile
import threading
from pathlib import Path

import paramiko

from harness.errors import ConfigError, InfraError
from harness.matrix import Host

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15


def _refused(host: Host, why: str) -> InfraError:
    return InfraError(f"host {host.name} ({host.where}): {why}")


class Connection:
    """An open SSH session to ``host``.  Every command is an argv list, quoted with shlex on the way."""

    def __init__(self, host: Host):
        self.host = host
        if not host.known_hosts.is_file():
            raise ConfigError(f"host {host.name}: known_hosts file {host.known_hosts} not found; pin the host's key "
                              f"there (ssh-keyscan -p {host.port} {host.address} >> {host.known_hosts}, then check it)")
        client = paramiko.SSHClient()
        client.load_host_keys(str(host.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())  # never learn a key
        try:
            client.connect(host.address, host.port, username=host.user,
                           key_filename=str(host.key) if host.key else None,
                           allow_agent=host.key is None, look_for_keys=host.key is None,
                           timeout=CONNECT_TIMEOUT_S, banner_timeout=CONNECT_TIMEOUT_S,
                           auth_timeout=CONNECT_TIMEOUT_S)
        except paramiko.BadHostKeyException:
            raise _refused(host, f"its host key is not the one pinned in {host.known_hosts}: refused (if the "
                                 "change is expected, replace its line there)") from None
        except paramiko.AuthenticationException as e:
            raise _refused(host, f"authentication failed ({e}); check the key file or agent") from None
        except paramiko.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise _refused(host, f"its host key is not pinned in {host.known_hosts}: refused (add it after "
                                     "checking it)") from None
            raise _refused(host, f"SSH failed: {e}") from None
        except (OSError, socket.timeout) as e:
            raise _refused(host, f"unreachable ({e.strerror or e}); is it up and is sshd on port {host.port}?") from None
        self.client = client
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def sftp(self) -> paramiko.SFTPClient:
        with self._lock:
            if self._sftp is None:
                try:
                    self._sftp = self.client.open_sftp()
                except paramiko.SSHException as e:
                    raise _refused(self.host, f"no SFTP ({e}); enable sshd's 'Subsystem sftp' there") from None
            return self._sftp

    def run(self, argv: list[str], timeout: float = 120, stdin: bytes | None = None) -> tuple[int, str, str]:
        """Run ``argv`` on the host; (exit code, stdout, stderr)."""
        chan = self.client.get_transport().open_session(timeout=CONNECT_TIMEOUT_S)  # type: ignore[union-attr]
        chan.settimeout(timeout)
        chan.exec_command(shlex.join(argv))
        if stdin is not None:
            chan.sendall(stdin)
        chan.shutdown_write()
        out, err = io.BytesIO(), io.BytesIO()
        try:
            while True:
                got = False
                if chan.recv_ready():
                    out.write(chan.recv(65536))
                    got = True
                if chan.recv_stderr_ready():
                    err.write(chan.recv_stderr(65536))
                    got = True
                if not got:
                    if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                        break
                    chan.status_event.wait(0.05)
        except socket.timeout:
            chan.close()
            raise _refused(self.host, f"{argv[0]} did not finish within {timeout:.0f} s") from None
        rc = chan.recv_exit_status()
        chan.close()
        return rc, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace")

    def check(self, argv: list[str], what: str, timeout: float = 120) -> str:
        rc, out, err = self.run(argv, timeout)
        if rc != 0:
            last = (err.strip() or out.strip()).splitlines()[-1:] or [f"exit {rc}"]
            raise _refused(self.host, f"{what} failed: {last[0]}")
        return out

    def exec(self, argv: list[str]) -> paramiko.Channel:
        """Start ``argv`` with stdout and stderr merged on the returned channel (a guest's console)."""
        chan = self.client.get_transport().open_session(timeout=CONNECT_TIMEOUT_S)  # type: ignore[union-attr]
        chan.set_combine_stderr(True)
        chan.exec_command(shlex.join(argv))
        return chan

    def put_tree(self, files: list[tuple[Path, str]], remote_dir: str) -> int:
        """Upload ``files`` ((local path, name inside the tree)) as ``remote_dir``, once: a tree already
        complete there is kept.  The tar stream goes into one ``tar -x``; the directory appears whole or
        not at all.  Returns the bytes sent (0: it was there)."""
        rc, _, _ = self.run(["test", "-e", f"{remote_dir}/.complete"])
        if rc == 0:
            return 0
        tmp = f"{remote_dir}.part"
        script = ('set -e; rm -rf "$1"; mkdir -p "$1"; tar -x -C "$1"; touch "$1/.complete"; '
                  'rm -rf "$2"; mv "$1" "$2"')
        chan = self.client.get_transport().open_session(timeout=CONNECT_TIMEOUT_S)  # type: ignore[union-attr]
        chan.set_combine_stderr(True)
        chan.exec_command(shlex.join(["sh", "-c", script, "sh", tmp, remote_dir]))
        sent = _Counter(chan)
        with tarfile.open(fileobj=sent, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for local, name in files:
                tar.add(str(local), arcname=name, recursive=True)
        chan.shutdown_write()
        out = b""
        while not chan.exit_status_ready() or chan.recv_ready():
            chunk = chan.recv(65536)
            if not chunk and chan.exit_status_ready():
                break
            out += chunk
        rc = chan.recv_exit_status()
        chan.close()
        if rc != 0:
            raise _refused(self.host, f"upload to {remote_dir} failed: {out.decode(errors='replace').strip()[-300:]}")
        return sent.n

    def read_from(self, path: str, offset: int) -> bytes:
        """The bytes of ``path`` from ``offset`` on (b'' if it does not exist yet)."""
        try:
            with self.sftp.open(path, "rb") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return b""
        except OSError as e:
            if getattr(e, "errno", None) == 2:
                return b""
            raise


class _Counter:
    """A write-only file over a channel that counts what it sends."""

    def __init__(self, chan: paramiko.Channel):
        self.chan = chan
        self.n = 0

    def write(self, data: bytes) -> int:
        self.chan.sendall(data)
        self.n += len(data)
        return len(data)


def home(conn: Connection) -> str:
    return conn.check(["sh", "-c", 'printf %s "$HOME"'], "reading $HOME")
