"""Where cells run: this machine's ``--jobs`` slots and each matrix host's ``jobs`` slots.

A cell takes the best free slot that serves its arch: a host with KVM first, then a host not checked
yet (the cell finds out), then this machine, then a host under TCG.  A host is checked once (tools,
arch, accel) when a cell first wants it; a host that fails the check or drops a connection is left
out from then on, with one line saying why, and its cells go elsewhere.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from harness import vm
from harness.arch import get_arch
from harness.backends import Backend
from harness.errors import HarnessError, InfraError
from harness.matrix import Accel, Host

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Slot:
    host: Host | None
    index: int

    @property
    def name(self) -> str:
        return self.host.name if self.host else "local"


@dataclasses.dataclass(frozen=True)
class HostInfo:
    accel: vm.AccelChoice
    versions: dict


class Slots:
    def __init__(self, local: int, hosts: tuple[Host, ...] = (), message=None):
        # no local slot only when asked for (--jobs 0) and there are hosts to run on
        self.free = [Slot(None, i) for i in range(local if hosts and local >= 0 else max(1, local))]
        self.free += [Slot(h, i) for h in hosts for i in range(h.jobs)]
        self.all = tuple(self.free)
        self.total = len(self.free)
        self.info: dict[str, HostInfo] = {}
        self.dead: dict[str, str] = {}
        self.checked: dict[str, threading.Lock] = {h.name: threading.Lock() for h in hosts}
        self.cond = threading.Condition()
        self.message = message or (lambda text: log.warning("%s", text))

    def _eligible(self, slot: Slot, arch: str, backend: Backend) -> bool:
        if slot.host is None:
            return True
        return backend.on_hosts and arch in slot.host.arches and slot.host.name not in self.dead

    def _rank(self, slot: Slot) -> int:
        """KVM host 0; a host not checked yet 1 (it may have KVM: the first cell finds out); here 2; TCG host 3."""
        if slot.host is None:
            return 2
        info = self.info.get(slot.host.name)
        return 1 if info is None else 0 if info.accel.accel is Accel.KVM else 3

    def acquire(self, arch: str, backend: Backend, cancel: threading.Event) -> Slot:
        """The best free slot for a cell of ``arch``; waits for one."""
        with self.cond:
            while True:
                if cancel.is_set():
                    raise KeyboardInterrupt
                ok = [s for s in self.free if self._eligible(s, arch, backend)]
                if not ok and not any(self._eligible(s, arch, backend) for s in self.all):
                    raise InfraError(f"no slot left for {arch} {backend.name} cells: " + (
                        "; ".join(self.dead.values()) or "no host serves that arch and --jobs is 0"))
                if ok:
                    best = min(ok, key=lambda s: (self._rank(s), s.name, s.index))
                    self.free.remove(best)
                    return best
                self.cond.wait(0.5)

    def release(self, slot: Slot) -> None:
        with self.cond:
            self.free.append(slot)
            self.cond.notify_all()

    def host_info(self, host: Host, arch: str) -> HostInfo | None:
        """The host's accel and tool versions, checked once; None (and the host left out) if it fails."""
        with self.checked[host.name]:
            if host.name in self.dead:
                return None
            if host.name in self.info:
                return self.info[host.name]
            from harness import remote
            try:
                with remote.Connection(host) as conn:
                    versions = remote.preflight(conn, get_arch(arch))
                    accel = remote.choose_accel(conn, get_arch(arch))
            except HarnessError as e:
                self.drop(host, str(e))
                return None
            self.info[host.name] = HostInfo(accel, versions)
            self.message(f"host {host.name} ({host.where}): {accel.accel.value} ({accel.reason})")
            return self.info[host.name]

    def drop(self, host: Host, why: str) -> None:
        with self.cond:
            if host.name not in self.dead:
                self.dead[host.name] = why
                self.message(f"host {host.name} left out of this run: {why}")
            self.cond.notify_all()
