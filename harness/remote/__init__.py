"""Cells on remote hosts over SSH (the matrix's ``hosts:``): one store, one report.

Public face: :class:`Connection` (pinned host keys, argv commands, uploads), :class:`Stage` (what a cell
needs on the host, uploaded once per content), :func:`launch` (a cell's guest there, mirrored back),
:func:`preflight` and :func:`choose_accel`.
"""

from harness.remote.guest import RemoteGuest, Stage, choose_accel, launch, preflight, remote_plan
from harness.remote.ssh import Connection

__all__ = ["Connection", "RemoteGuest", "Stage", "choose_accel", "launch", "preflight", "remote_plan"]
