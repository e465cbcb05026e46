"""Matrix YAML -> frozen, validated :class:`Matrix`.

Strict: unknown keys, wrong types, unknown arches, duplicate kernel ids and
empty matrices are errors that start with ``file:line``.  The YAML is walked
as a node tree (``yaml.compose``) so every value keeps its position, and
scalars stay the text the user wrote: ``6.10`` is a version, never a float.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable, TypeVar

import yaml

from harness.arch import ARCHES, PRIMARY, SUPPORTED
from harness.errors import ConfigError
from harness.matrix.model import (Accel, Attribution, Branch, CorpusSpec, DebianKernel, DebianSettings, GitFollow,
                                  GitKernel, GitRange, Host, KernelSpec, LatestRule, LocalKernel, Matrix, Queue,
                                  SourceKernel, Thresholds, UmlKernel, VmSettings)
from harness.matrix.model import TIMEOUTS
from harness.version import KernelVersion

T = TypeVar("T")


# --- node walking -----------------------------------------------------------------------

class _Walker:
    def __init__(self, path: Path):
        self.path = path

    def where(self, node: yaml.Node) -> str:
        return f"{self.path}:{node.start_mark.line + 1}"

    def fail(self, node: yaml.Node, msg: str) -> ConfigError:
        return ConfigError(f"{self.where(node)}: {msg}")

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping, not {_kind(node)}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise self.fail(knode, f"{what}: keys must be plain names")
            key = knode.value
            if key in out:
                raise self.fail(knode, f"{what}: duplicate key {key!r}")
            if allowed and key not in allowed:
                raise self.fail(knode, f"{what}: unknown key {key!r}; allowed: {', '.join(allowed)}")
            out[key] = (knode, vnode)
        for key in required:
            if key not in out:
                raise self.fail(node, f"{what}: missing required key {key!r}")
        return out

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            raise self.fail(node, f"{what} must be a single value, not {_kind(node)}")
        return str(node.value)

    def integer(self, node: yaml.Node, what: str, lo: int, hi: int) -> int:
        text = self.scalar(node, what)
        if not re.fullmatch(r"[0-9]+", text):
            raise self.fail(node, f"{what} must be a whole number, not {text!r}")
        value = int(text)
        if not lo <= value <= hi:
            raise self.fail(node, f"{what} must be between {lo} and {hi}, not {value}")
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        text = self.scalar(node, what)
        if node.tag != "tag:yaml.org,2002:bool" and text not in ("true", "false"):
            raise self.fail(node, f"{what} must be true or false, not {text!r}")
        return text.lower() in ("true", "yes", "on")

    def seq(self, node: yaml.Node, what: str, item: Callable[[yaml.Node], T],
            allow_empty: bool = False) -> list[T]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list, not {_kind(node)}")
        if not node.value and not allow_empty:
            raise self.fail(node, f"{what} must not be empty")
        return [item(n) for n in node.value]

    def version(self, node: yaml.Node, what: str) -> KernelVersion:
        text = self.scalar(node, what)
        try:
            return KernelVersion.parse(text)
        except ValueError:
            raise self.fail(node, f"{what}: {text!r} is not a kernel version (e.g. 6.12.117)") from None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "empty"
    return f"{node.value!r}"


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

TOP_KEYS = ("branches", "reference", "corpora", "arches", "vm", "debian", "thresholds", "hosts", "attribution")
HOST_KEYS = ("ssh", "key", "known_hosts", "arches", "jobs", "accel", "vng", "cache")
BRANCH_KEYS = ("kernels", "corpus", "arches", "corpus_by_arch", "reference", "series", "stable_tree")
RULE_KEYS = ("latest", "id")
_SERIES = re.compile(r"^([0-9]+\.[0-9]+)(?:\.y)?(?:$|-)")
KERNEL_KEYS = ("id", "debian", "local", "git", "uml", "source", "patches", "backend", "config", "queue", "on")
KERNEL_KINDS = ("debian", "local", "git", "uml", "source", "queue")
CORPUS_KEYS = ("source", "include", "exclude", "objects")
VM_KEYS = tuple(f.name for f in dataclasses.fields(VmSettings) if f.name != "arch_timeouts") + tuple(
    f"{key}_{arch}" for arch in ARCHES for key in TIMEOUTS)
"""Each arch may have its own timeouts (``boot_timeout_arm64``); :data:`harness.arch.ARCHES` says which arches."""
DEBIAN_KEYS = tuple(f.name for f in dataclasses.fields(DebianSettings))
THRESHOLD_KEYS = tuple(f.name for f in dataclasses.fields(Thresholds))


def load(path: Path | str) -> Matrix:
    """Read and validate a matrix file; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: matrix file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read matrix file: {e}") from None
    return parse(text, path)


def parse(text: str, path: Path | str = "<matrix>") -> Matrix:
    from harness import backends  # the backends read the matrix's records: asked at parse time
    path = Path(path)
    w = _Walker(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: malformed YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: malformed YAML: {e}") from None
    if root is None:
        raise ConfigError(f"{path}:1: empty matrix: it needs at least one branch with one kernel")
    top = w.mapping(root, "matrix", TOP_KEYS, required=("branches",))

    arches = (PRIMARY.name,)
    if "arches" in top:
        arches = tuple(_arches(w, top["arches"][1], "arches"))
    vm = _vm(w, top["vm"][1]) if "vm" in top else VmSettings()
    debian = _debian(w, top["debian"][1]) if "debian" in top else DebianSettings()

    corpora: dict[str, CorpusSpec] = {}
    if "corpora" in top:
        for name, (knode, vnode) in w.mapping(top["corpora"][1], "corpora", ()).items():
            if not _NAME.match(name):
                raise w.fail(knode, f"corpus name {name!r} must be letters, digits, . _ + -")
            corpora[name] = _corpus(w, name, vnode)

    bnode = top["branches"][1]
    braw = w.mapping(bnode, "branches", ())
    if not braw:
        raise w.fail(bnode, "branches must not be empty")
    branches: list[Branch] = []
    seen_ids: dict[str, str] = {}
    for name, (knode, vnode) in braw.items():
        if not _NAME.match(name):
            raise w.fail(knode, f"branch name {name!r} must be letters, digits, . _ + -")
        b = w.mapping(vnode, f"branch {name}", BRANCH_KEYS, required=("kernels",))
        rule = None
        if isinstance(b["kernels"][1], yaml.MappingNode):
            rule = _rule(w, name, b)
            kernels: list[KernelSpec] = []
        else:
            if "series" in b:
                raise w.fail(b["series"][0], f"branch {name}: series goes with kernels: {{latest: N}}")
            kernels = w.seq(b["kernels"][1], f"branch {name}: kernels", lambda n: _kernel(w, n))
        for k in kernels:
            if k.id in seen_ids:
                raise ConfigError(f"{k.where}: duplicate kernel id {k.id!r} (first at {seen_ids[k.id]})")
            seen_ids[k.id] = k.where
        _check_order(w, name, kernels)
        if "corpus" in b:
            cnode = b["corpus"][1]
            corpus = w.scalar(cnode, f"branch {name}: corpus")
            if corpus not in corpora:
                raise w.fail(cnode, f"branch {name}: unknown corpus {corpus!r}; defined: "
                             + (", ".join(corpora) or "none"))
        elif rule is not None:
            corpus = f"{name}-selftests"  # its source: the newest release the rule resolves to
        else:
            versions = [k.source.on if isinstance(k.source, Queue) else k.version for k in kernels]
            newest = max((v for v in versions if v is not None), default=None)
            if newest is None:
                raise w.fail(knode, f"branch {name}: no Debian kernel to take selftests from; name a corpus")
            corpus = f"{name}-selftests"
            corpora.setdefault(corpus, CorpusSpec(corpus, newest))
        barches = tuple(_arches(w, b["arches"][1], f"branch {name}: arches")) if "arches" in b else arches
        uml = [k for k in kernels if k.backend == backends.UML.name]
        if uml and not all(backends.UML.runs(a) for a in barches):
            only = ", ".join(backends.UML.arches())
            raise ConfigError(f"{uml[0].where}: branch {name}: uml kernels run on {only} only; give the branch "
                              f"arches: [{only}]")
        by_arch: list[tuple[str, str]] = []
        if "corpus_by_arch" in b:
            what = f"branch {name}: corpus_by_arch"
            for arch, (anode, cnode) in w.mapping(b["corpus_by_arch"][1], what, ()).items():
                if arch not in barches:
                    raise w.fail(anode, f"{what}: {arch!r} is not one of the branch's arches ({', '.join(barches)})")
                cname = w.scalar(cnode, f"{what}: {arch}")
                if cname not in corpora:
                    raise w.fail(cnode, f"{what}: unknown corpus {cname!r}; defined: {', '.join(corpora) or 'none'}")
                by_arch.append((arch, cname))
        bref = None
        if "reference" in b:
            bref = w.scalar(b["reference"][1], f"branch {name}: reference")
            if bref not in braw or bref == name:
                raise w.fail(b["reference"][1], f"branch {name}: reference {bref!r} is not another branch; branches: "
                             f"{', '.join(braw)}")
        queued = [k for k in kernels if isinstance(k.source, (GitFollow, Queue))]
        if queued and len(kernels) > 1:
            raise ConfigError(f"{queued[0].where}: branch {name}: a queue or a followed branch is a branch of its own "
                              f"(its release, its commits and the whole update); move the other kernels to another")
        follows = rule is not None or bool(queued)
        stable, tag = None, "v{version}"
        if "stable_tree" in b:
            snode = b["stable_tree"][1]
            if isinstance(snode, yaml.MappingNode):
                sm = w.mapping(snode, f"branch {name}: stable_tree", ("tree", "tag"), required=("tree",))
                snode = sm["tree"][1]
                if "tag" in sm:
                    tag = w.scalar(sm["tag"][1], f"branch {name}: stable_tree: tag")
                    if "{version}" not in tag:
                        raise w.fail(sm["tag"][1], f"branch {name}: stable_tree: tag must hold {{version}}, not {tag!r}")
            stable = _file(w, snode, f"branch {name}: stable_tree")
        branches.append(Branch(name, tuple(kernels), corpus, barches, tuple(by_arch), bref, rule, follows,
                               stable, tag, bool(queued)))

    rules = {b.name for b in branches if b.rule is not None}
    for c in corpora.values():
        if c.source_of is not None and c.source_of not in rules:
            raise ConfigError(f"{path}: corpus {c.name}: source: {{branch: {c.source_of}}} names no branch with "
                              f"kernels: {{latest: N}}; such branches: {', '.join(sorted(rules)) or 'none'}")
    reference = None
    if "reference" in top:
        rnode = top["reference"][1]
        reference = w.scalar(rnode, "reference")
        if reference not in braw:
            raise w.fail(rnode, f"reference {reference!r} is not a branch; branches: {', '.join(braw)}")
    thresholds = _thresholds(w, top["thresholds"][1]) if "thresholds" in top else Thresholds()
    hosts = _hosts(w, top["hosts"][1]) if "hosts" in top else ()
    attribution = _attribution(w, top["attribution"][1]) if "attribution" in top else Attribution()
    return Matrix(path, tuple(branches), corpora, reference, vm, debian, thresholds, hosts, attribution)


def _attribution(w: _Walker, node: yaml.Node) -> Attribution:
    from harness import backends  # the backends read the matrix's records: asked at parse time
    m = w.mapping(node, "attribution", ("steps", "minutes", "backend"))
    kw: dict[str, object] = {}
    if "steps" in m:
        kw["steps"] = w.integer(m["steps"][1], "attribution: steps", 2, 100)
    if "minutes" in m:
        kw["minutes"] = w.integer(m["minutes"][1], "attribution: minutes", 1, 24 * 60)
    if "backend" in m:
        backend = w.scalar(m["backend"][1], "attribution: backend")
        if backend not in ("auto", *backends.NAMES):
            raise w.fail(m["backend"][1], f"attribution: backend must be one of auto, {', '.join(backends.NAMES)}, "
                                          f"not {backend!r}")
        kw["backend"] = backend
    return Attribution(**kw)  # type: ignore[arg-type]


_SSH = re.compile(r"^(?P<user>[a-z_][a-z0-9_.-]*)@(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?$")


def _hosts(w: _Walker, node: yaml.Node) -> tuple[Host, ...]:
    out = []
    for name, (knode, vnode) in w.mapping(node, "hosts", ()).items():
        if not _NAME.match(name):
            raise w.fail(knode, f"host name {name!r} must be letters, digits, . _ + -")
        what = f"host {name}"
        m = w.mapping(vnode, what, HOST_KEYS, required=("ssh", "arches", "known_hosts"))
        ssh = w.scalar(m["ssh"][1], f"{what}: ssh")
        got = _SSH.match(ssh)
        if not got or not 0 < int(got["port"] or 22) < 65536:
            raise w.fail(m["ssh"][1], f"{what}: ssh must be user@host or user@host:port, not {ssh!r}")
        kw: dict[str, object] = {}
        for key in ("key", "known_hosts"):
            if key in m:
                kw[key] = Path(w.scalar(m[key][1], f"{what}: {key}")).expanduser()
        if "jobs" in m:
            kw["jobs"] = w.integer(m["jobs"][1], f"{what}: jobs", 1, 64)
        if "accel" in m:
            a = w.scalar(m["accel"][1], f"{what}: accel")
            if a not in ("auto", "kvm", "tcg"):
                raise w.fail(m["accel"][1], f"{what}: accel must be one of auto, kvm, tcg, not {a!r}")
            kw["accel"] = Accel(a)
        for key in ("vng", "cache"):
            if key in m:
                kw[key] = w.scalar(m[key][1], f"{what}: {key}")
        arches = tuple(_arches(w, m["arches"][1], f"{what}: arches"))
        out.append(Host(name, got["user"], got["host"].strip("[]"), int(got["port"] or 22), arches, **kw))  # type: ignore[arg-type]
    return tuple(out)


def _thresholds(w: _Walker, node: yaml.Node) -> Thresholds:
    m = w.mapping(node, "thresholds", THRESHOLD_KEYS)
    kw: dict[str, object] = {}
    for key in ("insns_abs", "states_abs"):
        if key in m:
            kw[key] = w.integer(m[key][1], f"thresholds: {key}", 0, 1_000_000)
    for key in ("insns_pct", "states_pct", "near_limit_pct"):
        if key in m:
            text = w.scalar(m[key][1], f"thresholds: {key}")
            try:
                value = float(text)
            except ValueError:
                raise w.fail(m[key][1], f"thresholds: {key} must be a number, not {text!r}") from None
            if not 0 <= value <= 100:
                raise w.fail(m[key][1], f"thresholds: {key} must be between 0 and 100, not {text}")
            kw[key] = value
    return Thresholds(**kw)  # type: ignore[arg-type]


def _arches(w: _Walker, node: yaml.Node, what: str) -> list[str]:
    def one(n: yaml.Node) -> str:
        name = w.scalar(n, what)
        if name not in ARCHES:
            raise w.fail(n, f"{what}: unknown arch {name!r}; valid: {', '.join(ARCHES)}")
        if name not in SUPPORTED:
            raise w.fail(n, f"{what}: arch {name!r} cannot run cells yet; supported: {', '.join(SUPPORTED)}")
        return name
    out = w.seq(node, what, one)
    if len(set(out)) != len(out):
        raise w.fail(node, f"{what}: an arch is listed twice")
    return out


def _kernel(w: _Walker, node: yaml.Node) -> KernelSpec:
    from harness import backends  # the backends read the matrix's records: asked at parse time
    where = w.where(node)
    if isinstance(node, yaml.ScalarNode):
        v = w.version(node, "kernel")
        return KernelSpec(str(v), DebianKernel(v), where)
    m = w.mapping(node, "kernel", KERNEL_KEYS)
    kinds = [k for k in KERNEL_KINDS if k in m]
    if len(kinds) != 1:
        raise w.fail(node, f"kernel: give exactly one of {', '.join(KERNEL_KINDS)}")
    kind = kinds[0]
    if ("on" in m) != (kind == "queue"):
        raise w.fail(m["on"][0] if "on" in m else node, "kernel: a queue needs on: (the release it applies on), "
                     "and on: goes with a queue only")
    if kind not in ("git", "source", "queue"):
        for key in ("patches", "backend"):
            if key in m:
                raise w.fail(m[key][0], f"kernel: {key} goes with a git or source kernel, not {kind}")
    elif "patches" in m and kind in ("git", "queue"):
        raise w.fail(m["patches"][0], f"kernel: patches go with a source kernel, not a {kind} kernel")
    backend = w.scalar(m["backend"][1], "kernel: backend") if "backend" in m else backends.VM.name
    if backend not in backends.NAMES:
        raise w.fail(m["backend"][1], f"kernel: backend {backend!r}: one of {', '.join(backends.NAMES)}")
    config = w.scalar(m["config"][1], "kernel: config") if "config" in m else "guest"
    if "config" in m and (kind != "source" or backend != backends.VM.name):
        raise w.fail(m["config"][0], "kernel: config goes with a source kernel built for the vm backend")
    if config not in backends.VM_CONFIGS:
        raise w.fail(m["config"][1], f"kernel: config {config!r}: one of {', '.join(backends.VM_CONFIGS)}")
    kid = w.scalar(m["id"][1], "kernel: id") if "id" in m else None
    if kid is not None and not _NAME.match(kid):
        raise w.fail(m["id"][1], f"kernel id {kid!r} must be letters, digits, . _ + -")
    vnode = m[kind][1]
    if kind == "debian":
        v = w.version(vnode, "kernel: debian")
        return KernelSpec(kid or str(v), DebianKernel(v), where)
    if kind == "uml":
        v = w.version(vnode, "kernel: uml")
        return KernelSpec(kid or f"{v}-uml", UmlKernel(v), where)
    if kind == "source":
        v = w.version(vnode, "kernel: source")
        patches = tuple(w.seq(m["patches"][1], "kernel: patches", lambda n: _file(w, n, "kernel: patches"))) \
            if "patches" in m else ()
        return KernelSpec(kid or f"{v}-src", SourceKernel(v, patches, backend, config), where)
    if kind == "queue":
        if kid is None:
            raise w.fail(node, "kernel: a queue needs an id (6.12.114-rc1)")
        qpath = _file(w, vnode, "kernel: queue")
        return KernelSpec(kid, Queue(qpath, w.version(m["on"][1], "kernel: on"), backend), where)
    if kind == "local":
        if kid is None:
            raise w.fail(node, "kernel: a local kernel needs an id")
        lm = w.mapping(vnode, "kernel: local", ("image", "modules"), required=("image",))
        image = Path(w.scalar(lm["image"][1], "kernel: local: image")).expanduser()
        modules = Path(w.scalar(lm["modules"][1], "kernel: local: modules")).expanduser() if "modules" in lm else None
        return KernelSpec(kid, LocalKernel(image, modules), where)
    gm = w.mapping(vnode, "kernel: git", ("tree", "commit", "range", "paths", "follow"), required=("tree",))
    tree = _file(w, gm["tree"][1], "kernel: git: tree")
    if sum(k in gm for k in ("commit", "range", "follow")) != 1:
        raise w.fail(vnode, "kernel: git: give exactly one of commit, range (A..B), follow (a branch)")
    if "paths" in gm and "range" not in gm:
        raise w.fail(gm["paths"][0], "kernel: git: paths go with a range")
    if "follow" in gm:
        followed = w.scalar(gm["follow"][1], "kernel: git: follow")
        return KernelSpec(kid or followed, GitFollow(tree, followed, backend), where)
    if kid is None:
        raise w.fail(node, "kernel: a git kernel needs an id")
    if "commit" in gm:
        return KernelSpec(kid, GitKernel(tree, w.scalar(gm["commit"][1], "kernel: git: commit"), backend), where)
    rng = w.scalar(gm["range"][1], "kernel: git: range")
    if rng.count("..") != 1 or rng.startswith("..") or rng.endswith("..") or "..." in rng:
        raise w.fail(gm["range"][1], f"kernel: git: range {rng!r}: write BASE..HEAD")
    paths = tuple(w.seq(gm["paths"][1], "kernel: git: paths", lambda n: w.scalar(n, "kernel: git: paths"))) \
        if "paths" in gm else ()
    return KernelSpec(kid, GitRange(tree, rng, paths, backend), where)


def _rule(w: _Walker, name: str, b: dict[str, tuple[yaml.Node, yaml.Node]]) -> LatestRule:
    """``kernels: {latest: N}`` of branch ``name``; the series from ``series:`` or the branch's name."""
    knode = b["kernels"][1]
    m = w.mapping(knode, f"branch {name}: kernels", RULE_KEYS, required=("latest",))
    count = w.integer(m["latest"][1], f"branch {name}: kernels: latest", 1, 50)
    kid = "{version}"
    if "id" in m:
        kid = w.scalar(m["id"][1], f"branch {name}: kernels: id")
        if "{version}" not in kid or not _NAME.match(kid.replace("{version}", "1.2.3")):
            raise w.fail(m["id"][1], f"branch {name}: kernels: id must hold {{version}} and otherwise letters, digits, "
                         f". _ + -, not {kid!r}")
    if "series" in b:
        snode = b["series"][1]
        series = w.scalar(snode, f"branch {name}: series")
        if not re.fullmatch(r"[0-9]+\.[0-9]+|newest", series):
            raise w.fail(snode, f"branch {name}: series must be MAJOR.MINOR (6.12) or newest, not {series!r}")
    else:
        got = _SERIES.match(name)
        if got is None:
            raise w.fail(knode, f"branch {name}: kernels: {{latest: {count}}} needs a series: name the branch "
                         f"MAJOR.MINOR.y (6.12.y) or give series: MAJOR.MINOR")
        series = got.group(1)
    return LatestRule(count, series, w.where(knode), kid)


def _file(w: _Walker, node: yaml.Node, what: str) -> Path:
    """A path from the matrix: ``~`` expanded, relative to the matrix file's directory."""
    p = Path(w.scalar(node, what)).expanduser()
    return p if p.is_absolute() else (w.path.parent / p).resolve()


def _check_order(w: _Walker, branch: str, kernels: list[KernelSpec]) -> None:
    prev: KernelSpec | None = None
    for k in kernels:
        if prev is not None and prev.version is not None and k.version is not None and k.version < prev.version:
            raise ConfigError(f"{k.where}: branch {branch}: kernels must be listed oldest first "
                              f"({k.id} comes after {prev.id})")
        prev = k


def _corpus(w: _Walker, name: str, node: yaml.Node) -> CorpusSpec:
    m = w.mapping(node, f"corpus {name}", CORPUS_KEYS, required=("source",))
    globs: dict[str, object] = {}
    if isinstance(m["source"][1], yaml.MappingNode):
        sm = w.mapping(m["source"][1], f"corpus {name}: source", ("branch",), required=("branch",))
        globs["source_of"] = w.scalar(sm["branch"][1], f"corpus {name}: source: branch")
        source = KernelVersion(0, 0)
    else:
        source = w.version(m["source"][1], f"corpus {name}: source")
    for key in ("include", "exclude"):
        if key in m:
            globs[key] = tuple(w.seq(m[key][1], f"corpus {name}: {key}",
                                     lambda n, key=key: w.scalar(n, f"corpus {name}: {key}"),
                                     allow_empty=key == "exclude"))
    if "objects" in m:
        globs["objects"] = tuple(str(_file(w, n, f"corpus {name}: objects"))
                                 for n in w.seq(m["objects"][1], f"corpus {name}: objects", lambda n: n))
    return CorpusSpec(name, source, **globs)  # type: ignore[arg-type]


def _vm(w: _Walker, node: yaml.Node) -> VmSettings:
    m = w.mapping(node, "vm", VM_KEYS)
    kw: dict[str, object] = {}
    limits = {"cpus": (1, 64), "boot_timeout": (5, 3600), "program_timeout": (1, 36000),
              "cell_timeout": (10, 7 * 86400), "failure_log_level": (0, 2),
              "boot_retries": (0, 5), "hang_timeout": (5, 36000), "hang_retries": (0, 10), "log_diffs": (0, 1000)}
    for key, (lo, hi) in limits.items():
        if key in m:
            kw[key] = w.integer(m[key][1], f"vm: {key}", lo, hi)
    kw["arch_timeouts"] = tuple((arch, key, w.integer(m[f"{key}_{arch}"][1], f"vm: {key}_{arch}", *limits[key]))
                                for arch in ARCHES for key in TIMEOUTS if f"{key}_{arch}" in m)
    for key in ("check_messages", "confirm"):
        if key in m:
            kw[key] = w.boolean(m[key][1], f"vm: {key}")
    if "failure_tails" in m:
        tails = w.scalar(m["failure_tails"][1], "vm: failure_tails")
        if tails not in ("unexpected", "all"):
            raise w.fail(m["failure_tails"][1], f"vm: failure_tails must be unexpected or all, not {tails!r}")
        kw["failure_tails"] = tails
    if "memory" in m:
        mem = w.scalar(m["memory"][1], "vm: memory")
        if not re.fullmatch(r"[1-9][0-9]*[MG]", mem):
            raise w.fail(m["memory"][1], f"vm: memory must look like 2G or 1536M, not {mem!r}")
        kw["memory"] = mem
    if "accel" in m:
        a = w.scalar(m["accel"][1], "vm: accel")
        try:
            kw["accel"] = Accel(a)
            if kw["accel"] is Accel.NATIVE:
                raise ValueError(a)
        except ValueError:
            raise w.fail(m["accel"][1], f"vm: accel must be one of auto, kvm, tcg, not {a!r}") from None
    return VmSettings(**kw)  # type: ignore[arg-type]


def _debian(w: _Walker, node: yaml.Node) -> DebianSettings:
    m = w.mapping(node, "debian", DEBIAN_KEYS)
    kw: dict[str, object] = {}
    if "suites" in m:
        kw["suites"] = tuple(w.seq(m["suites"][1], "debian: suites", lambda n: w.scalar(n, "debian: suites")))
    for key in ("mirror", "security_mirror"):
        if key in m:
            url = w.scalar(m[key][1], f"debian: {key}")
            if not re.match(r"^(https?|file)://", url):
                raise w.fail(m[key][1], f"debian: {key} must be an http(s):// or file:// URL, not {url!r}")
            kw[key] = url
    return DebianSettings(**kw)  # type: ignore[arg-type]
