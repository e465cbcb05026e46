"""Error families and the exit codes they map to.

Library code raises; only ``harness.cli`` turns an error into an exit code.
User errors (bad input, unknown versions) exit 2; infrastructure errors
(a tool missing, a download or build failing, a guest that dies) exit 3.
A verifier regression is never an exception: it is data, reported with exit 1.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    REGRESSION = 1
    USAGE = 2
    INFRA = 3


class HarnessError(Exception):
    """Base of every error the CLI reports as a one-line message."""

    exit_code: ExitCode = ExitCode.INFRA


class UserError(HarnessError):
    """The input is wrong: fix the matrix, the arguments or the kernel choice."""

    exit_code = ExitCode.USAGE


class UsageError(UserError):
    """The command line is wrong (an unknown option, a missing argument); the message says which."""


class ConfigError(UserError):
    """A matrix file is malformed; the message starts with file:line."""


class NotFoundError(UserError):
    """A requested kernel, source or cell does not exist."""


class InfraError(HarnessError):
    """The machinery failed: a tool, a download, a build, a VM."""

    exit_code = ExitCode.INFRA


class ToolMissingError(InfraError):
    """A required host tool is not installed."""


class BuildError(InfraError):
    """A build step (veristat, libbpf, corpus) failed."""


class GuestError(InfraError):
    """A guest did not boot, hung, panicked or died without reporting."""
