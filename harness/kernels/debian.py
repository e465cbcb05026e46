"""Real stable kernels from Debian packages, fetched with apt and extracted without installing."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

from harness import cache, proc
from harness.arch import Arch
from harness.errors import InfraError
from harness.kernels import Kernel, check_config, vmlinux
from harness.kernels.apt import Apt, Package, pick
from harness.matrix import KernelSpec
from harness.version import KernelVersion

log = logging.getLogger(__name__)

SOURCE_PATTERNS = (re.compile(r"^linux-source-\d+\.\d+$"), re.compile(r"^linux-source$"))


def resolve_image(apt: Apt, version: KernelVersion) -> Package:
    return pick(apt.packages("linux-image-"), apt.arch.image_package_patterns(), version,
                f"kernel {apt.arch.name}", apt.settings.suites)


def companions(image: Package) -> list[str]:
    """Packages that carry parts of the kernel since Debian split it (7.x): linux-binary-ABI (the image),
    linux-modules-ABI, linux-base-ABI (config).  Older images carry everything themselves."""
    abi = image.name[len("linux-image-"):].removesuffix("-unsigned")
    return [d for d in image.depends if re.fullmatch(rf"linux-(binary|modules|base)-{re.escape(abi)}", d)]


def resolve_source(apt: Apt, version: KernelVersion) -> Package:
    return pick(apt.packages("linux-source"), SOURCE_PATTERNS, version, "linux-source",
                apt.settings.suites)


def fetch(spec: KernelSpec, arch: Arch, apt: Apt, cache_root: Path) -> Kernel:
    """Resolve, download, extract and check one Debian kernel; reuse a finished entry."""
    assert spec.version is not None
    pkg = resolve_image(apt, spec.version)
    final = cache_root / "kernels" / arch.name / cache.safe_name(f"{pkg.name}_{pkg.version}")
    record = final / "kernel.json"
    with cache.locked(final.with_name(final.name + ".lock")):
        if record.exists():
            k = Kernel.from_json(record.read_text())
            return _with_id(k, spec.id)
        log.info("fetching %s=%s", pkg.name, pkg.version)
        with cache.building(final) as tmp:
            parts = [pkg] + [Package(name, pkg.version, pkg.arch) for name in companions(pkg)]
            root = tmp / "root"
            digests = []
            for part in parts:
                deb = apt.download(part, tmp / "deb")
                digests.append(cache.sha256_file(deb))
                proc.run(["dpkg-deb", "-x", deb, root], timeout=600, what=f"dpkg-deb -x {deb.name}")
                deb.unlink()
            k = _describe(root, arch, final, pkg, ",".join(digests))
            record_tmp = tmp / "kernel.json"
            record_tmp.write_text(k.to_json())
    return _with_id(Kernel.from_json(record.read_text()), spec.id)


def _with_id(k: Kernel, kid: str) -> Kernel:
    if k.config is None and k.vmlinux is not None:  # entries cached before the config was recorded
        config = k.vmlinux.parent / "boot" / f"config-{k.release}"
        k = dataclasses.replace(k, config=config if config.exists() else None)
    return k if k.id == kid else dataclasses.replace(k, id=kid)


def _describe(root: Path, arch: Arch, final: Path, pkg: Package, digest: str) -> Kernel:
    """Find image/config/modules in an extracted package, check them, write vmlinux beside them."""
    # Debian <= 6.x: boot/vmlinuz-REL, boot/config-REL, lib/modules/REL;
    # Debian 7.x: usr/lib/modules/REL/{vmlinuz,config}.
    if not (root / "lib").exists() and (root / "usr" / "lib").is_dir():
        (root / "lib").symlink_to("usr/lib")  # as on a merged-/usr system: depmod and vng look in lib/
    images = sorted((root / "boot").glob(f"{arch.image_prefix}*")) + sorted(root.glob("lib/modules/*/vmlinuz"))
    if len(images) != 1:
        raise InfraError(f"{pkg.name}: expected one kernel image in the package(s), found "
                         f"{', '.join(str(i.relative_to(root)) for i in images) or 'none'}")
    image = images[0]
    release = image.name[len(arch.image_prefix):] if image.parent.name == "boot" else image.parent.name
    mods = root / "lib" / "modules" / release
    if not mods.is_dir():
        raise InfraError(f"{pkg.name}: lib/modules/{release} missing from the package(s)")
    config = next((c for c in (root / "boot" / f"config-{release}", mods / "config") if c.exists()), None)
    if config is None:
        raise InfraError(f"{pkg.name}: no kernel config (boot/config-{release} or modules/{release}/config)")
    check_config(config.read_text(errors="replace"), f"{pkg.name}={pkg.version}")
    if not (mods / "modules.dep").exists():
        proc.run(["depmod", "-b", root, release], timeout=300, what="depmod",
                 env={"PATH": "/usr/sbin:/sbin:/usr/bin:/bin"})
    if arch.boots_uncompressed or arch.image_is_elf:
        vml = root / "vmlinux"
        vml.write_bytes(vmlinux.extract(image.read_bytes()))
    else:  # arm64: a flat Image, no ELF inside; the corpus only needs its BTF
        vml = root / "vmlinux.btf"
        vml.write_bytes(vmlinux.carve_btf(vmlinux.raw_image(image.read_bytes())))
    # Paths are recorded as they will be after the atomic rename into place.
    rel = lambda p: final / p.relative_to(root.parent)  # noqa: E731
    boot = vml if arch.boots_uncompressed else image
    return Kernel(id="", arch=arch.name, release=release, source="debian", image=rel(boot),
                  vmlinux=rel(vml), modules=rel(mods), config=rel(config), package=pkg.name,
                  package_version=pkg.version, package_sha256=digest)


def fetch_source(version: KernelVersion, apt: Apt, cache_root: Path) -> tuple[Package, Path]:
    """Download the ``linux-source-*`` package of ``version``; returns the tarball path."""
    pkg = resolve_source(apt, version)
    final = cache_root / "sources" / cache.safe_name(f"{pkg.name}_{pkg.version}")
    with cache.locked(final.with_name(final.name + ".lock")):
        if not final.exists():
            log.info("fetching %s=%s", pkg.name, pkg.version)
            with cache.building(final) as tmp:
                deb = apt.download(pkg, tmp / "deb")
                proc.run(["dpkg-deb", "-x", deb, tmp / "root"], timeout=600, what=f"dpkg-deb -x {deb.name}")
                deb.unlink()
    tarballs = sorted((final / "root" / "usr" / "src").glob("linux-source-*.tar.*"))
    if len(tarballs) != 1:
        raise InfraError(f"{pkg.name}: expected one usr/src/linux-source-*.tar.* in the package, found {len(tarballs)}")
    return pkg, tarballs[0]
