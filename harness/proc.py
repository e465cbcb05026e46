"""The one subprocess chokepoint.

Every external command goes through here: an argv list (never a shell
string), an explicit ``cwd`` and environment, a timeout, the output teed to a
log that starts with the command that reproduces it, and the child's whole
process group killed in ``finally`` whatever happens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Iterable, Iterator, Mapping, Sequence

from harness.errors import InfraError, ToolMissingError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    output: str
    """stdout and stderr, merged in order."""
    seconds: float


def reproducer(argv: Sequence[str], cwd: Path | str | None = None,
               env: Mapping[str, str] | None = None) -> str:
    """A shell line that reproduces ``argv`` (for logs; never executed by us)."""
    parts = []
    if cwd is not None:
        parts.append(f"cd {shlex.quote(str(cwd))} &&")
    if env:
        parts.append("env " + " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(env.items())))
    parts.append(shlex.join(str(a) for a in argv))
    return " ".join(parts)


_mode = threading.local()


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Commands this thread runs inside get the lowest CPU priority (``nice -n 19``).

    A run prepares later cells (builds, extraction) while a guest verifies: under TCG a guest that
    shares the cores with a compiler at equal priority slowed 3.3x here, not 2x (its vCPU threads are
    descheduled mid-translation), so the preparing takes only what the guest leaves idle."""
    before = getattr(_mode, "nice", False)
    _mode.nice = True
    try:
        yield
    finally:
        _mode.nice = before


def _niced(argv: tuple[str, ...], env: Mapping[str, str]) -> tuple[str, ...]:
    if not getattr(_mode, "nice", False):
        return argv
    if not shutil.which(argv[0], path=env.get("PATH")):  # the same error as without nice, not nice's exit 127
        raise ToolMissingError(f"{argv[0]} not found; run ci/setup.sh to install it")
    return ("nice", "-n", "19", *argv)


def require(tool: str, hint: str) -> str:
    """Path of ``tool`` on PATH, or a one-line error naming the fix."""
    path = shutil.which(tool)
    if not path:
        raise ToolMissingError(f"{tool} not found on PATH; {hint}")
    return path


def _environ(env: Mapping[str, str] | None, inherit: bool) -> dict[str, str]:
    base = dict(os.environ) if inherit else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    base.setdefault("LC_ALL", "C.UTF-8")
    if env:
        base.update(env)
    return base


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("process %d did not die after SIGKILL", proc.pid)


def start(argv: Sequence[str], *, cwd: Path | str | None = None,
          env: Mapping[str, str] | None = None, inherit_env: bool = True,
          log_path: Path, header: str = "") -> tuple[subprocess.Popen, threading.Thread]:
    """Start ``argv`` in its own process group, teeing stdout+stderr to ``log_path``.

    The log starts with the reproducer line, then ``header``.  Output goes
    through a pipe (a child that reopens its stdout, as qemu's file chardev
    does with O_TRUNC, would otherwise wipe the log).  The caller owns the
    process: pass it to :func:`stop` in a ``finally``, then join the thread.
    """
    argv = [str(a) for a in argv]
    repro = reproducer(argv, cwd, env if not inherit_env else None)
    log.debug("start: %s", repro)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logf = open(log_path, "wb")
    logf.write(f"# reproduce: {repro}\n{header}".encode())
    logf.flush()
    try:
        p = subprocess.Popen(argv, cwd=cwd, env=_environ(env, inherit_env), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError as e:
        logf.close()
        raise ToolMissingError(f"{argv[0]} not found: {e.strerror}; install it (see ci/setup.sh)") from None

    def copy() -> None:
        with logf:
            assert p.stdout is not None
            while chunk := p.stdout.read1(65536):
                logf.write(chunk)
                logf.flush()

    t = threading.Thread(target=copy, name=f"tee-{log_path.name}", daemon=True)
    t.start()
    return p, t


def stop(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and its whole process group if it still runs."""
    _kill_group(proc)


def run(argv: Sequence[str], *, cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None, inherit_env: bool = True,
        timeout: float | None = 600, log_path: Path | None = None,
        check: bool = True, what: str | None = None,
        input_text: str | None = None) -> Result:
    """Run ``argv`` to completion, capturing merged output.

    ``log_path`` gets the reproducer line first, then the output.  With
    ``check``, a non-zero exit or a timeout raises :class:`InfraError` naming
    ``what`` (default: the program) and the log.
    """
    argv = tuple(str(a) for a in argv)
    what = what or Path(argv[0]).name
    repro = reproducer(argv, cwd, env)
    log.debug("run: %s", repro)
    t0 = time.monotonic()
    logf: IO[str] | None = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(log_path, "w", encoding="utf-8", errors="replace")
        logf.write(f"$ {repro}\n")
        logf.flush()
    try:
        environ = _environ(env, inherit_env)
        proc = subprocess.Popen(
            _niced(argv, environ), cwd=cwd, env=environ,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            text=True, errors="replace",
        )
    except FileNotFoundError as e:
        if logf:
            logf.close()
        raise ToolMissingError(f"{argv[0]} not found ({e.strerror}); run ci/setup.sh to install it") from None
    try:
        try:
            out, _ = proc.communicate(input=input_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out = proc.stdout.read() if proc.stdout else ""
            if logf:
                logf.write(out)
            raise InfraError(f"{what} timed out after {timeout:.0f}s"
                             + (f"; log: {log_path}" if log_path else "")) from None
        if logf:
            logf.write(out)
    finally:
        _kill_group(proc)
        if logf:
            logf.close()
    res = Result(argv, proc.returncode, out, time.monotonic() - t0)
    if check and proc.returncode != 0:
        tail = " | ".join(line for line in out.strip().splitlines()[-3:])
        raise InfraError(f"{what} failed with exit {proc.returncode}"
                         + (f" (log: {log_path})" if log_path else "") + (f": {tail}" if tail else ""))
    return res


def version_of(argv: Iterable[str]) -> str:
    """First line of a ``--version`` style command, or ``unknown``."""
    try:
        res = run(list(argv), timeout=30, check=False)
    except (InfraError, OSError):
        return "unknown"
    first = res.output.strip().splitlines()
    return first[0].strip() if first else "unknown"
