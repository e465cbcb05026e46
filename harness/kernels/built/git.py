"""Git plumbing for source-built kernels: trees, revisions, ranges, commit messages, synthetic commits.

Every call is an argv list through :mod:`harness.proc`.  Commits the harness makes (an imported
Debian source, patches applied on top, the build recipe's own patches) are written with plumbing
(``read-tree``/``apply --cached``/``write-tree``/``commit-tree`` on a private index), so a user's
tree, index and working tree are never touched, and a fixed identity and date make the same input
give the same commit id on every machine.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from harness import proc
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.version import KernelVersion

# Paths whose changes can move verifier behaviour: the default filter of a commit range and of bisect.
BPF_PATHS = ("kernel/bpf/", "include/linux/bpf*", "include/linux/btf*", "include/uapi/linux/bpf.h",
             "kernel/trace/bpf_trace.c", "net/core/filter.c", "arch/x86/net/", "arch/arm64/net/")

IDENTITY = {"GIT_AUTHOR_NAME": "bpf-harness", "GIT_AUTHOR_EMAIL": "bpf-harness@localhost",
            "GIT_COMMITTER_NAME": "bpf-harness", "GIT_COMMITTER_EMAIL": "bpf-harness@localhost",
            "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}


def git(repo: Path, *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 900,
        check: bool = True, what: str | None = None, input_text: str | None = None) -> proc.Result:
    proc.require("git", "apt-get install git")
    return proc.run(["git", "-C", str(repo), *map(str, args)], env=env, timeout=timeout, check=check,
                    what=what or f"git {args[0]} in {repo}", input_text=input_text)


def check_tree(path: Path, where: str) -> Path:
    """``path`` as an absolute git work tree (or bare repo), or a one-line error."""
    if not path.exists():
        raise UserError(f"{where}: git tree {path} does not exist")
    res = git(path, "rev-parse", "--git-dir", check=False)
    if res.returncode != 0:
        raise UserError(f"{where}: {path} is not a git repository (git rev-parse: "
                        f"{res.output.strip().splitlines()[-1] if res.output.strip() else 'failed'})")
    return path.resolve()


def resolve(tree: Path, rev: str, where: str) -> str:
    """The full commit id of ``rev`` in ``tree``, or a one-line error naming the revision."""
    if rev.startswith("-"):
        raise UserError(f"{where}: revision {rev!r} must not start with '-'")
    res = git(tree, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if res.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}", res.output.strip()):
        raise UserError(f"{where}: unknown revision {rev!r} in {tree} (git rev-parse found no commit; "
                        "fetch it, or check the spelling)")
    return res.output.strip()


def commits_touching(tree: Path, base: str, head: str, paths: Sequence[str] = ()) -> list[str]:
    """Commits in ``base..head``, oldest first, that touch ``paths`` (all commits when empty)."""
    args = ["rev-list", "--reverse", "--topo-order", f"{base}..{head}"]
    if paths:
        args += ["--", *[p.rstrip("/") if not any(c in p for c in "*?[") else f":(glob){p}" for p in paths]]
    return git(tree, *args).output.split()


def is_ancestor(tree: Path, a: str, b: str) -> bool:
    return git(tree, "merge-base", "--is-ancestor", a, b, check=False).returncode == 0


@dataclasses.dataclass(frozen=True)
class CommitInfo:
    id: str
    subject: str
    body: str

    @property
    def short(self) -> str:
        return self.id[:12]

    @property
    def trailers(self) -> tuple[str, ...]:
        """The lines a maintainer looks for: ``Fixes:``, the upstream commit, CVE ids (pure)."""
        return tuple(line.strip() for line in self.body.splitlines() if TRAILER.search(line))


TRAILER = re.compile(r"^\s*(Fixes:|\[ ?Upstream commit [0-9a-f]{7,40} ?\]|commit [0-9a-f]{40} upstream|Link:)"
                     r"|CVE-\d{4}-\d+", re.I)


def info(tree: Path, commit: str) -> CommitInfo:
    out = git(tree, "show", "-s", "--format=%H%x00%s%x00%b", commit).output
    cid, subject, body = (out.split("\x00", 2) + ["", ""])[:3]
    return CommitInfo(cid.strip(), subject.strip(), body.rstrip())


_MAKEFILE_VERSION = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL)\s*=\s*(\d+)\s*$", re.M)


def kernel_version(tree: Path, commit: str) -> "KernelVersion | None":
    """The kernel version a commit's top Makefile names (``VERSION``/``PATCHLEVEL``/``SUBLEVEL``); None when the
    tree has no kernel Makefile there."""
    from harness.version import KernelVersion
    res = git(tree, "show", f"{commit}:Makefile", check=False)
    if res.returncode != 0:
        return None
    got = dict(_MAKEFILE_VERSION.findall(res.output[:4096]))
    if "VERSION" not in got or "PATCHLEVEL" not in got:
        return None
    return KernelVersion.parse(f"{got['VERSION']}.{got['PATCHLEVEL']}.{got.get('SUBLEVEL', '0')}")


def shared_clone(tree: Path, dest: Path) -> None:
    """A clone that borrows ``tree``'s objects (``--shared``): seconds, not gigabytes, and our
    commits and checkouts stay out of the user's repository."""
    proc.require("git", "apt-get install git")
    proc.run(["git", "clone", "--quiet", "--shared", "--no-checkout", str(tree), str(dest)], timeout=600,
             what=f"git clone --shared {tree}")


def is_mail(text: str) -> bool:
    """A ``git format-patch`` mail (or mbox) rather than a plain diff (pure)."""
    head = text[:4096]
    return head.startswith("From ") or bool(re.search(r"^Subject: ", head, re.M))


class PatchDoesNotApply(UserError):
    """A patch that ``git apply`` refuses: the input is wrong for this base (exit 2), and a backport
    confirmation's ``does-not-apply`` verdict."""


def commit_patches(repo: Path, base: str, patches: Sequence[Path], where: str,
                   message: str | None = None) -> str:
    """Apply ``patches`` in order on ``base`` with plumbing; returns the last commit id.

    Each mail patch becomes one commit with its own author, date and message (``git mailinfo``); a
    plain diff becomes a commit named after its file.  With ``message``, all patches go into one
    commit with that message.  A patch that does not apply is a one-line :class:`UserError` naming it
    and the first file git could not patch.
    """
    head = base
    with tempfile.TemporaryDirectory(prefix="bpf-harness-git-") as tmp:
        index = Path(tmp) / "index"
        env = {"GIT_INDEX_FILE": str(index)}
        git(repo, "read-tree", base, env=env)
        for i, patch in enumerate(patches):
            if not patch.is_file():
                raise UserError(f"{where}: patch {patch} does not exist")
            text = patch.read_text(errors="replace")
            res = git(repo, "apply", "--cached", "--whitespace=nowarn", patch.resolve(), env=env, check=False)
            if res.returncode != 0:
                raise PatchDoesNotApply(f"{where}: patch {patch} does not apply on {head[:12]}: "
                                        f"{_apply_error(res.output)}")
            if message is not None and i < len(patches) - 1:
                continue
            tree = git(repo, "write-tree", env=env).output.strip()
            meta = dict(IDENTITY)
            if message is not None:
                msg = message
            elif is_mail(text):
                msg, author = _mailinfo(repo, patch, Path(tmp))
                meta.update(author)
            else:
                msg = f"{patch.name}\n\nApplied by bpf-harness from {patch}."
            head = git(repo, "commit-tree", tree, "-p", head, env=meta, input_text=msg,
                       what=f"git commit-tree for {patch.name}").output.strip()
    return head


def _apply_error(output: str) -> str:
    """The most useful line of ``git apply``'s complaint (pure)."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("$ ")]
    for line in lines:
        if line.startswith("error: patch failed:") or "does not exist in index" in line:
            return line.removeprefix("error: ")
    return lines[0].removeprefix("error: ") if lines else "git apply failed"


def _mailinfo(repo: Path, patch: Path, tmp: Path) -> tuple[str, dict[str, str]]:
    res = proc.run(["git", "-C", str(repo), "mailinfo", "-k", str(tmp / "msg"), str(tmp / "diff")],
                   input_text=patch.read_text(errors="replace"), what=f"git mailinfo {patch.name}", check=False)
    if res.returncode != 0:
        raise UserError(f"patch {patch}: git mailinfo cannot read it as a mail ({res.output.strip()[-200:]})")
    fields = dict(line.split(": ", 1) for line in res.output.splitlines()
                  if ": " in line and not line.startswith("$ "))
    subject = re.sub(r"^\[[^]]*\]\s*", "", fields.get("Subject", patch.name)).strip()
    body = (tmp / "msg").read_text(errors="replace").strip()
    author: dict[str, str] = {}
    if fields.get("Author"):
        author["GIT_AUTHOR_NAME"] = fields["Author"]
    if fields.get("Email"):
        author["GIT_AUTHOR_EMAIL"] = fields["Email"]
    if fields.get("Date"):
        author["GIT_AUTHOR_DATE"] = fields["Date"]
    return f"{subject}\n\n{body}\n" if body else f"{subject}\n", author


def import_tree(src: Path, message: str) -> str:
    """Make ``src`` (an unpacked source tree) a git repository with one commit; returns its id."""
    env = dict(IDENTITY)
    git(src, "init", "--quiet")
    git(src, "config", "core.autocrlf", "false")
    git(src, "add", "--all", "--force", ".", timeout=1800)
    tree = git(src, "write-tree").output.strip()
    commit = git(src, "commit-tree", tree, env=env, input_text=message).output.strip()
    git(src, "update-ref", "refs/heads/main", commit)
    git(src, "symbolic-ref", "HEAD", "refs/heads/main")
    return commit


def checkout(clone: Path, commit: str) -> None:
    """Point ``clone``'s work tree at ``commit``: files that did not change keep their mtime, so
    ``make`` rebuilds only what the commit touched."""
    git(clone, "checkout", "--quiet", "--force", "--detach", commit, timeout=1800)
