import pytest

from harness.arch import X86_64
from harness.errors import NotFoundError
from harness.kernels import apt, debian
from harness.matrix import DebianSettings
from harness.version import KernelVersion
from conftest import data


def packages():
    return apt.parse_stanzas(data("apt-cache-show.txt").read_text())


def test_parse_recorded_apt_cache_show():
    pkgs = packages()
    names = {p.name for p in pkgs}
    assert "linux-image-6.12.117+deb12-amd64-unsigned" in names
    p = next(p for p in pkgs if p.name == "linux-image-6.12.117+deb12-amd64-unsigned")
    assert p.version == "6.12.117-1~deb12u1" and p.size > 50_000_000 and len(p.sha256) == 64


def test_pick_image_prefers_unsigned_and_newest_revision():
    pats = X86_64.image_package_patterns()
    p = apt.pick(packages(), pats, KernelVersion.parse("6.1.192"), "kernel", ("s",))
    assert (p.name, p.version) == ("linux-image-6.1.0-56-amd64-unsigned", "6.1.192-2")
    p = apt.pick(packages(), pats, KernelVersion.parse("6.12.117"), "kernel", ("s",))
    assert p.name == "linux-image-6.12.117+deb12-amd64-unsigned"  # not cloud, not rt


def test_pick_unknown_version_names_the_nearest():
    with pytest.raises(NotFoundError) as e:
        apt.pick(packages(), X86_64.image_package_patterns(), KernelVersion.parse("6.12.116"), "kernel x86_64",
                 ("bookworm-security",))
    assert str(e.value) == ("kernel x86_64 6.12.116 is not in the Debian archive (suites: bookworm-security); "
                            "nearest available: 6.1.192, 6.12.115, 6.12.117")


def test_pick_source_package():
    p = apt.pick(packages(), debian.SOURCE_PATTERNS, KernelVersion.parse("6.1.192"), "linux-source", ("s",))
    assert (p.name, p.version) == ("linux-source-6.1", "6.1.192-2")


def test_private_config_points_every_state_dir_into_the_cache(tmp_path):
    text = apt.render_config(tmp_path, X86_64)
    for key in ("Dir::State::Lists", "Dir::State::status", "Dir::Cache::archives", "Dir::Etc::SourceList",
                "Dir::Etc::SourceParts", "Dir::Etc::Preferences"):
        line = next(ln for ln in text.splitlines() if ln.startswith(key + " "))
        assert str(tmp_path) in line
    assert 'APT::Architecture "amd64";' in text


def test_sources_use_security_mirror_and_system_keyring():
    text = apt.render_sources(DebianSettings(suites=("bookworm", "bookworm-security")))
    assert text.splitlines() == [
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main",
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security "
        "bookworm-security main"]


def test_split_kernel_packages_since_7x():
    """Debian 7.x images depend on ABI-suffixed packages that carry the image, modules and config."""
    (img,) = apt.parse_stanzas(data("apt-cache-show-7.3.4.txt").read_text())
    assert img.name == "linux-image-7.3.4+deb13-amd64"
    assert debian.companions(img) == ["linux-base-7.3.4+deb13-amd64", "linux-binary-7.3.4+deb13-amd64",
                                      "linux-modules-7.3.4+deb13-amd64"]
    six = next(p for p in packages() if p.name == "linux-image-6.12.117+deb12-amd64-unsigned")
    assert debian.companions(six) == []


def test_describe_both_layouts(tmp_path):
    import lzma
    from test_vmlinux import ELF, bzimage
    for layout, rel in (("boot", "6.12.117+deb12-amd64"), ("usr", "7.3.4+deb13-amd64")):
        root = tmp_path / layout / "root"
        img = bzimage(lzma.compress(ELF, format=lzma.FORMAT_XZ), rel)
        config = "CONFIG_BPF_SYSCALL=y\nCONFIG_DEBUG_INFO_BTF=y\n"
        if layout == "boot":
            (root / "boot").mkdir(parents=True)
            (root / "boot" / f"vmlinuz-{rel}").write_bytes(img)
            (root / "boot" / f"config-{rel}").write_text(config)
            mods = root / "lib" / "modules" / rel
        else:  # as in linux-binary-/linux-base-/linux-modules-7.3.4+deb13-amd64
            mods = root / "usr" / "lib" / "modules" / rel
            mods.mkdir(parents=True)
            (mods / "vmlinuz").write_bytes(img)
            (mods / "config").write_text(config)
        mods.mkdir(parents=True, exist_ok=True)
        (mods / "modules.dep").write_text("")
        final = tmp_path / layout / "final"
        k = debian._describe(root, X86_64, final, apt.Package("linux-image-x", "1-1", "amd64"), "d")
        assert k.release == rel
        assert k.image == final / "root" / "vmlinux" and (root / "vmlinux").read_bytes() == ELF
        assert k.modules == final / "root" / "lib" / "modules" / rel
        assert k.config.name in (f"config-{rel}", "config")
        assert (root / "lib" / "modules" / rel).is_dir()


def test_closure_from_a_recorded_arm64_simulation():
    """apt-get install --simulate under the private arm64 config (recorded): every package, with its version."""
    got = apt.parse_simulation(data("apt-get-simulate-arm64.txt").read_text())
    names = dict(got)
    assert names["bash"] == "5.2.15-2+b13" and names["libc6"] == "2.36-9+deb12u14"
    assert "python3.11-minimal" in names and len(got) == len(names) > 10


def test_userspace_configs_do_not_share_the_kernels_apt_state(tmp_path):
    from harness.arch import ARM64
    kernels = apt.Apt(tmp_path, ARM64, DebianSettings(suites=("bookworm-security",)))
    user = apt.Apt(tmp_path, ARM64, DebianSettings(suites=("bookworm",)), label="arm64-userspace")
    assert kernels.base != user.base and user.base == tmp_path / "apt" / "arm64-userspace"
    assert 'APT::Architecture "arm64";' in apt.render_config(user.base, ARM64)
