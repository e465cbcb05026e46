"""The selftest corpus: veristat and ``progs/*.bpf.o`` built with clang from a kernel source.

Built in the cache, keyed by (linux-source package version, arch, clang
version, BTF kernel).  Objects are built on demand: a matrix that selects more
objects than a previous one builds only what is missing.  An object that fails
to compile is recorded with its compiler error and skipped; only a failure of
the shared pieces (libbpf, bpftool, veristat) is fatal.
"""

from __future__ import annotations

import dataclasses
import glob as globlib
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path

from harness import btf, cache, elf, proc
from harness.arch import PRIMARY, Arch, host_arch
from harness.errors import BuildError, UserError
from harness.expect import VERSION as EXPECT_VERSION
from harness.expect import Expectation, parse_tags
from harness.matrix import CorpusSpec

log = logging.getLogger(__name__)

LLVM_BIN = Path("/usr/lib/llvm-19/bin")
SELFTESTS = Path("tools/testing/selftests/bpf")
ERROR_LINES = 25


@dataclasses.dataclass(frozen=True)
class CorpusObject:
    name: str
    """Object name without ``.bpf.o`` (``verifier_and``)."""
    path: Path
    sha256: str
    programs: tuple[str, ...]
    expectations: tuple[tuple[str, Expectation], ...] = ()
    """(program, what its decl tags expect) for programs that carry test tags."""


@dataclasses.dataclass(frozen=True)
class Corpus:
    id: str
    """Content hash: the objects' names and sha256, veristat's sha256, the clang version."""
    name: str
    arch: str
    source_package: str
    source_version: str
    clang: str
    veristat: Path
    veristat_sha256: str
    objects: tuple[CorpusObject, ...]
    failed: tuple[tuple[str, str], ...]
    """(object name, compiler error) for objects that did not build."""
    build_dir: Path
    veristat_opts: frozenset[str] = frozenset()
    """Options this veristat has: ``-t`` test-states, ``-r`` test-reg-invariants, ``--log-size``."""

    @property
    def program_count(self) -> int:
        return sum(len(o.programs) for o in self.objects)


def toolchain_env() -> dict[str, str]:
    return {"PATH": f"{LLVM_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def clang_version() -> str:
    clang = LLVM_BIN / "clang"
    if not clang.exists():
        raise BuildError(f"{clang} not found; apt-get install clang-19 llvm-19 lld-19 (see ci/setup.sh)")
    return proc.version_of([str(clang), "--version"])


def clang_short(version_line: str) -> str:
    m = re.search(r"clang version (\d+\.\d+\.\d+)", version_line)
    return m.group(1) if m else "unknown"


VERISTAT_OPTIONS = (("-t", '"test-states"'), ("-r", '"test-reg-invariants"'), ("--log-size", '"log-size"'))


def veristat_options(source: Path) -> frozenset[str]:
    """The options (program flags, log size) a veristat was built with, read from its source (``--help``
    would need the binary to run here, which a cross-built one cannot)."""
    text = source.read_text(errors="replace") if source.exists() else ""
    return frozenset(opt for opt, long in VERISTAT_OPTIONS if long in text)


def corpus_id(objects: list[CorpusObject], veristat_sha: str, clang: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"clang": clang, "veristat": veristat_sha,
                         "objects": sorted((o.name, o.sha256) for o in objects)}).encode())
    return h.hexdigest()[:16]


def read_objects(files: list[tuple[Path, bytes, bool]]) -> tuple[dict[str, bytes], list[tuple[Path, str]]]:
    """Out-of-tree files -> BPF objects by name, and the files that gave none, each with why (pure).

    ``files``: (path, bytes, named): a ``.bpf.o`` is used as it is, another file for the objects embedded in
    it (libbpf skeletons).  A file named in ``objects:`` or a ``*.o`` a glob matched that yields no object with
    a program is unreadable (not a BPF ELF, truncated, or without programs): never dropped without a word.  A
    glob's other matches (a build directory's executables) may carry no skeleton."""
    found: dict[str, bytes] = {}
    unreadable: list[tuple[Path, str]] = []
    for f, data, named in files:
        stem = f.name.removesuffix(".o").removesuffix(".bpf")
        try:
            if elf.BpfElf(data).programs():
                found[stem] = data
            else:
                unreadable.append((f, "a BPF object without programs"))
            continue
        except elf.ElfError as e:
            bpf_error = str(e)
        blobs = elf.embedded_objects(data)
        for i, blob in enumerate(blobs):
            found[f"{f.name}-skel{i}" if i else f"{f.name}-skel"] = blob
        if not blobs and (named or f.name.endswith(".o")):
            unreadable.append((f, f"not a BPF object ({bpf_error}) and none embedded in it"))
    return found, unreadable


def extract_members(arch: Arch) -> list[str]:
    """Parts of the kernel tree the selftests build reads (the rest of the tarball is skipped)."""
    arches = sorted({arch.make_arch, (host_arch() or PRIMARY).make_arch})  # the build's own helpers are native
    return ["tools", "scripts", "include", "kernel/bpf", "Makefile", *[f"arch/{a}" for a in arches]]


def make_argv(selftests: Path, vmlinux: Path, targets: list[str], jobs: int, keep_going: bool,
              arch: Arch | None = None) -> list[str]:
    """make for selftest targets; a foreign ``arch`` sets ``ARCH`` (``-D__TARGET_ARCH_*``, its asm
    headers) while the build's helpers (libbpf, bpftool) stay native."""
    argv = ["make", "-C", str(selftests), f"-j{jobs}", "CLANG=clang", "LLC=llc", "LLVM_STRIP=llvm-strip",
            f"VMLINUX_BTF={vmlinux}"]
    if arch is not None and arch is not host_arch():
        argv.append(f"ARCH={arch.make_arch}")
    if keep_going:
        argv.append("-k")
    return argv + targets


LINE_BUFFERED_C = """\
/* bpf-harness: the runner reads veristat's stdout and stderr from one pipe, line by line.  stdbuf -oL
 * makes a dynamic veristat line-buffered by preloading a library; a static one ignores LD_PRELOAD, so
 * it is linked with this instead, or its block-buffered stdout interleaves with libbpf's stderr. */
#include <stdio.h>
__attribute__((constructor)) static void bpf_harness_line_buffered(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}
"""


def cross_veristat_argvs(src: Path, out: Path, arch: Arch, sysroot: Path, jobs: int) -> list[list[str]]:
    """Commands that build a static veristat for ``arch`` with clang against a Debian sysroot (pure).

    libbpf first (its own Makefile, cross ``CC``), then veristat.c linked statically with libbpf,
    libelf, zlib and zstd, so the guest root needs nothing but the binary; ``line_buffered.c``
    (:data:`LINE_BUFFERED_C`, written beside it) stands in for stdbuf.
    """
    cc = ["clang", f"--target={arch.clang_triple}", f"--sysroot={sysroot}"]
    libbpf = out / "libbpf"
    tools = src / "tools"
    return [
        ["make", "-C", str(tools / "lib" / "bpf"), f"-j{jobs}", f"OUTPUT={libbpf}/", f"CC={' '.join(cc)}",
         "AR=llvm-ar", "LD=ld.lld", "BUILD_STATIC_ONLY=1", f"{libbpf}/libbpf.a"],
        [*cc, "-O2", "-static", "-fuse-ld=lld", f"-I{tools / 'include'}", f"-I{tools / 'include' / 'uapi'}",
         f"-I{tools / 'lib'}", f"-I{libbpf}", str(src / SELFTESTS / "veristat.c"), str(out / "line_buffered.c"),
         f"{libbpf}/libbpf.a",
         "-lelf", "-lz", "-lzstd", "-lm", "-lpthread", "-o", str(out / "veristat")],
    ]


def expectations_of(data: bytes, programs: list[str]) -> dict[str, dict]:
    """{program: expectation} from the object's BTF decl tags, for programs that carry test tags."""
    try:
        tags = btf.object_func_tags(data)
    except btf.BtfError as e:
        log.warning("unreadable BTF, no expectations: %s", e)
        return {}
    out = {}
    for prog in programs:
        exp = parse_tags(tags.get(prog, ()))
        if exp.expect is not None:
            out[prog] = exp.to_json()
    return out


class Builder:
    """Builds (or reuses) the corpus for one (source, arch, clang, BTF) key."""

    def __init__(self, cache_root: Path, arch: Arch, source_package: str, source_version: str,
                 tarball: Path, vmlinux: Path, jobs: int | None = None, sysroot: Path | None = None):
        self.arch = arch
        self.sysroot = sysroot
        """Debian sysroot for a cross-built veristat (foreign arch only)."""
        self.source_package = source_package
        self.source_version = source_version
        self.tarball = tarball
        self.vmlinux = vmlinux
        self.jobs = jobs or os.cpu_count() or 2
        self.clang = clang_version()
        btf = hashlib.sha256(str(vmlinux.resolve()).encode()).hexdigest()[:8]
        self.dir = (cache_root / "corpus" / arch.name /
                    cache.safe_name(f"{source_package}_{source_version}-clang{clang_short(self.clang)}-btf{btf}"))
        self.src = self.dir / "src"
        self.manifest_path = self.dir / "manifest.json"

    @property
    def selftests(self) -> Path:
        return self.src / SELFTESTS

    def _manifest(self) -> dict:
        if self.manifest_path.exists():
            return json.loads(self.manifest_path.read_text())
        return {"source": f"{self.source_package}={self.source_version}", "clang": self.clang,
                "arch": self.arch.name, "vmlinux_btf": str(self.vmlinux), "objects": {}}

    def _save(self, manifest: dict) -> None:
        tmp = self.manifest_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        tmp.replace(self.manifest_path)

    def _extract(self) -> None:
        if (self.dir / "src.done").exists():
            return
        log.info("extracting %s", self.tarball.name)
        with cache.building(self.src) as tmp:
            top = self.tarball.name.split(".tar")[0]  # linux-source-6.12.tar.xz holds linux-source-6.12/
            proc.run(["tar", "-xf", self.tarball, "-C", tmp, "--strip-components=1",
                      *[f"{top}/{m}" for m in extract_members(self.arch)]],
                     timeout=1200, what=f"tar -x {self.tarball.name}")
        (self.dir / "src.done").touch()

    def _veristat(self) -> Path:
        if self.arch is not host_arch():
            return self._cross_veristat()
        veristat = self.selftests / "veristat"
        if not veristat.exists():
            log.info("building veristat and libbpf")
            proc.run(make_argv(self.selftests, self.vmlinux, ["veristat"], self.jobs, False),
                     env=toolchain_env(), timeout=3600, log_path=self.dir / "logs" / "veristat.log",
                     what="veristat build")
        return veristat

    def _cross_veristat(self) -> Path:
        recipe = json.dumps([cross_veristat_argvs(Path("S"), Path("O"), self.arch, Path("R"), 1), LINE_BUFFERED_C])
        out = self.dir / f"veristat-{self.arch.name}-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}"
        if not (out / "veristat").exists():
            if self.sysroot is None:
                raise BuildError(f"veristat for {self.arch.name}: no sysroot to cross-build against")
            log.info("cross-building veristat for %s", self.arch.name)
            with cache.building(out) as tmp:
                (tmp / "libbpf").mkdir(parents=True)
                (tmp / "line_buffered.c").write_text(LINE_BUFFERED_C)
                for argv in cross_veristat_argvs(self.src, tmp, self.arch, self.sysroot, self.jobs):
                    proc.run(argv, env=toolchain_env(), timeout=3600, log_path=self.dir / "logs" / "veristat.log",
                             what=f"veristat cross-build ({self.arch.name})")
        return out / "veristat"

    def available(self) -> list[str]:
        return sorted(p.stem for p in (self.selftests / "progs").glob("*.c"))

    def build(self, spec: CorpusSpec) -> Corpus:
        self.dir.mkdir(parents=True, exist_ok=True)
        if spec.objects:
            return self.external(spec)
        with cache.locked(self.dir / ".lock"):
            self._extract()
            veristat = self._veristat()
            manifest = self._manifest()
            names = [n for n in self.available() if spec.selects(n)]
            if not names:
                raise UserError(f"corpus {spec.name}: include/exclude globs select no object from "
                                f"{self.source_package} {self.source_version}")
            todo = [n for n in names if n not in manifest["objects"]]
            if todo:
                self._build_objects(todo, manifest)
            for n in names:  # manifests written before expectations were read, or read by an older parser
                entry = manifest["objects"][n]
                if entry["status"] == "built" and entry.get("expect_version") != EXPECT_VERSION:
                    entry["expect"] = expectations_of((self.selftests / f"{n}.bpf.o").read_bytes(), entry["programs"])
                    entry["expect_version"] = EXPECT_VERSION
            self._save(manifest)
        objects, failed = [], []
        for n in names:
            entry = manifest["objects"][n]
            if entry["status"] == "built":
                objects.append(CorpusObject(n, self.selftests / f"{n}.bpf.o", entry["sha256"],
                                            tuple(entry["programs"]),
                                            tuple((p, Expectation.from_json(e)) for p, e in entry["expect"].items())))
            else:
                failed.append((n, entry["error"]))
        vsha = cache.sha256_file(veristat)
        return Corpus(corpus_id(objects, vsha, self.clang), spec.name, self.arch.name,
                      self.source_package, self.source_version, self.clang, veristat, vsha,
                      tuple(objects), tuple(failed), self.dir, veristat_options(self.selftests / "veristat.c"))

    def external(self, spec: CorpusSpec) -> Corpus:
        """Out-of-tree objects (``objects:`` globs): ``.bpf.o`` files as they are, and the BPF objects embedded
        in other files (libbpf skeletons in a program), copied into the cache by content; programs without test
        tags must verify.  veristat comes from ``source``'s selftests."""
        with cache.locked(self.dir / ".lock"):
            self._extract()
            veristat = self._veristat()
        files = sorted({Path(p) for g in spec.objects for p in (globlib.glob(g) if globlib.has_magic(g) else [g])})
        missing = [g for g in spec.objects if not globlib.has_magic(g) and not Path(g).is_file()]
        if missing:
            raise UserError(f"corpus {spec.name}: objects: {missing[0]} does not exist")
        named = {Path(g) for g in spec.objects if not globlib.has_magic(g)}
        found, unreadable = read_objects([(f, f.read_bytes(), f in named) for f in files if f.is_file()])
        if unreadable:
            f, why = unreadable[0]
            more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
            raise UserError(f"corpus {spec.name}: objects: {f}: {why}{more}; rebuild it (clang -target bpf -g) or "
                            "leave it out of objects:")
        names = [n for n in sorted(found) if spec.selects(n)]
        if not names:
            raise UserError(f"corpus {spec.name}: objects: no BPF object in {len(files)} file(s) matched "
                            f"({', '.join(spec.objects)}); give .bpf.o files or programs with libbpf skeletons")
        out_dir = self.dir / "external"
        out_dir.mkdir(parents=True, exist_ok=True)
        objects = []
        for n in names:
            data = found[n]
            sha = hashlib.sha256(data).hexdigest()
            path = out_dir / sha[:16] / f"{n}.bpf.o"  # veristat names results by the file's own name
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_bytes(data)
                tmp.replace(path)
            progs = [p.name for p in elf.programs(data)]
            tagged = expectations_of(data, progs)
            exp = tuple((p, Expectation.from_json(tagged[p]) if p in tagged else Expectation("success"))
                        for p in progs)
            objects.append(CorpusObject(n, path, sha, tuple(progs), exp))
        vsha = cache.sha256_file(veristat)
        return Corpus(corpus_id(objects, vsha, self.clang), spec.name, self.arch.name, self.source_package,
                      self.source_version, self.clang, veristat, vsha, tuple(objects), (), self.dir,
                      veristat_options(self.selftests / "veristat.c"))

    def _build_objects(self, names: list[str], manifest: dict) -> None:
        t0 = time.monotonic()
        log.info("building %d BPF objects with %s", len(names), clang_short(self.clang))
        targets = [str(self.selftests / f"{n}.bpf.o") for n in names]
        proc.run(make_argv(self.selftests, self.vmlinux, targets, self.jobs, True, self.arch), env=toolchain_env(),
                 timeout=7200, log_path=self.dir / "logs" / f"objects-{int(time.time())}.log",
                 check=False, what="BPF objects build")
        built = 0
        for n in names:
            path = self.selftests / f"{n}.bpf.o"
            if path.exists():
                try:
                    progs = [p.name for p in elf.programs(path.read_bytes())]
                except elf.ElfError as e:
                    manifest["objects"][n] = {"status": "failed", "error": f"unreadable object: {e}"}
                    continue
                manifest["objects"][n] = {"status": "built", "sha256": cache.sha256_file(path),
                                          "programs": progs, "expect": expectations_of(path.read_bytes(), progs),
                                          "expect_version": EXPECT_VERSION}
                built += 1
            else:
                manifest["objects"][n] = {"status": "failed", "error": self._error_of(n)}
        if built == 0:
            raise BuildError(f"no BPF object of {len(names)} built; see {self.dir / 'logs'}")
        log.info("built %d/%d objects in %.0fs", built, len(names), time.monotonic() - t0)

    def _error_of(self, name: str) -> str:
        """Rebuild one failed object alone to capture its compiler error."""
        res = proc.run(make_argv(self.selftests, self.vmlinux, [str(self.selftests / f"{name}.bpf.o")], 1, False,
                                  self.arch),
                       env=toolchain_env(), timeout=600, check=False, what=f"{name}.bpf.o")
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        return "\n".join((errors or lines)[-ERROR_LINES:])
