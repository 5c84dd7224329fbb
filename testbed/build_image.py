#!/usr/bin/env python3
"""Build (or find in the cache) a Debian base image of the test VMs.

    build_image.py [--release 12|13]   -> prints the image directory (base.qcow2, id_ed25519[.pub])

Debian 12 (bookworm) is the default; Debian 13 (trixie) comes from the same
mirror, built by the same steps and cached under its own key.

The image is a real BIOS disk: an msdos partition table, an ext4 root file
system made with `mke2fs -d` (no loop mounts), GRUB's boot.img and core.img
written from the host, and grub-pc installed in the image. A first boot from
that disk then runs the guest's own `grub-install /dev/vda` and `update-grub`,
so scenarios exercise /etc/default/grub, update-grub, grub-reboot and booting a
newly installed kernel for real. Root logs in over ssh with a key made per
build. The result is cached under the cache folder, keyed by a hash of
everything that built it (this script, the package list, the files copied
into the image, the suite and architecture).

Never let grub-pc run grub-install in the chroot: the host's own disk may be
/dev/vda too. The build preseeds grub-pc's install device empty and diverts
grub-install while it works in the chroot.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cache  # noqa: E402
import vm  # noqa: E402

RELEASES = {"12": "bookworm", "13": "trixie"}
DEFAULT_RELEASE = "12"
ARCH = "amd64"
DISK_MIB = 8192
PARTITION_START_SECTOR = 2048
PACKAGES_FILE = HERE / "image" / "packages.txt"
ROOTFS_FILES = HERE / "image" / "rootfs"
# A login that is not root, as on most real devices: the same ssh key, sudo without a password
# (etc/sudoers.d/90-testbed-admin under image/rootfs). The default scenario's sensor-18 uses it.
ADMIN_USER = "admin"
MASKED_UNITS = ["apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer",
                "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer", "networking.service"]
CHROOT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8",
              "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def log(message: str) -> None:
    print(f"image: {message}", file=sys.stderr, flush=True)


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, **kwargs)


def packages() -> list[str]:
    names = []
    for line in PACKAGES_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def suite(release: str) -> str:
    try:
        return RELEASES[release]
    except KeyError:
        raise SystemExit(f"image: unknown Debian release {release!r} (known: {', '.join(RELEASES)})") from None


def image_key(release: str = DEFAULT_RELEASE) -> str:
    inputs = [Path(__file__).resolve(), PACKAGES_FILE, ROOTFS_FILES]
    return cache.content_key(inputs, extra=[suite(release), ARCH, str(DISK_MIB)], base=HERE)


def image_dir(release: str = DEFAULT_RELEASE) -> Path:
    return cache.cache_dir() / "images" / f"debian{release}-{ARCH}-{image_key(release)}"


def debian_mirrors() -> tuple[str, str]:
    """The host's Debian and Debian-security mirror URLs (never printed).

    OOMGS_DEBIAN_MIRROR / OOMGS_DEBIAN_SECURITY_MIRROR override them.
    """
    main = os.environ.get("OOMGS_DEBIAN_MIRROR", "")
    security = os.environ.get("OOMGS_DEBIAN_SECURITY_MIRROR", "")
    uris: list[str] = []
    sources = [*Path("/etc/apt/sources.list.d").glob("*.sources")]
    for path in sources:
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                uris.extend(line.split()[1:])
    legacy = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]
    for path in legacy:
        if path.exists():
            for line in path.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3 and fields[0] == "deb":
                    uris.append(next(f for f in fields[1:] if "://" in f))
    for uri in uris:
        if "security" in uri:
            security = security or uri
        else:
            main = main or uri
    if not main:
        raise SystemExit("image: no Debian mirror found in /etc/apt; set OOMGS_DEBIAN_MIRROR")
    return main, security or main.replace("/debian", "/debian-security")


def chroot(rootfs: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return run("chroot", str(rootfs), *args, env=CHROOT_ENV, **kwargs)


@contextlib.contextmanager
def proc_mounted(rootfs: Path):
    target = rootfs / "proc"
    run("mount", "-t", "proc", "proc", str(target))
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def unmount_below(path: Path) -> None:
    """Unmount whatever a failed debootstrap or chroot step left mounted under path."""
    prefix = str(path.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def debootstrap(rootfs: Path, mirror: str, release: str) -> None:
    debs = cache.cache_dir() / "debootstrap"
    debs.mkdir(exist_ok=True)
    run("debootstrap", "--variant=minbase", f"--arch={ARCH}",
        f"--include={','.join(packages())}", f"--cache-dir={debs}",
        suite(release), str(rootfs), mirror, stdout=subprocess.DEVNULL)


def configure(rootfs: Path, work: Path, mirror: str, security: str, release: str) -> None:
    name = suite(release)
    shutil.copytree(ROOTFS_FILES, rootfs, dirs_exist_ok=True, symlinks=True)
    (rootfs / "etc/hostname").write_text("oomgs-testvm\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 oomgs-testvm\n")
    (rootfs / "etc/apt/sources.list").write_text(
        f"deb {mirror} {name} main\n"
        f"deb {mirror} {name}-updates main\n"
        f"deb {security} {name}-security main\n"
    )
    # ssh key of this image
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "oomgs-testbed", "-f", str(work / "id_ed25519"))
    ssh_dir = rootfs / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(work / "id_ed25519.pub", ssh_dir / "authorized_keys")
    (ssh_dir / "authorized_keys").chmod(0o600)
    chroot(rootfs, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", ADMIN_USER)
    admin_ssh = rootfs / "home" / ADMIN_USER / ".ssh"
    admin_ssh.mkdir(mode=0o700)
    shutil.copy(work / "id_ed25519.pub", admin_ssh / "authorized_keys")
    (admin_ssh / "authorized_keys").chmod(0o600)
    chroot(rootfs, "chown", "-R", f"{ADMIN_USER}:{ADMIN_USER}", f"/home/{ADMIN_USER}/.ssh")
    (rootfs / "etc/sudoers.d/90-testbed-admin").chmod(0o440)
    chroot(rootfs, "systemctl", "enable", "systemd-networkd.service")
    chroot(rootfs, "systemctl", "mask", *MASKED_UNITS)
    # grub-pc without letting it touch any disk of the host
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    chroot(rootfs, "debconf-set-selections", input=(
        "grub-pc grub-pc/install_devices multiselect\n"
        "grub-pc grub-pc/install_devices_empty boolean true\n"
    ).encode())
    chroot(rootfs, "dpkg-divert", "--local", "--rename", "--add", "/usr/sbin/grub-install")
    (rootfs / "usr/sbin/grub-install").symlink_to("/bin/true")
    try:
        with proc_mounted(rootfs):
            chroot(rootfs, "apt-get", "-q", "update", stdout=subprocess.DEVNULL)
            chroot(rootfs, "apt-get", "-q", "-y", "install", "grub-pc", stdout=subprocess.DEVNULL)
            chroot(rootfs, "apt-get", "clean")
            # the package cache that `apt-get clean` removed: without it the first apt task of
            # every fresh VM rebuilds it (14 s on 2 vCPUs under TCG)
            chroot(rootfs, "apt-cache", "gencaches", stdout=subprocess.DEVNULL)
            # the initramfs that debootstrap made predates the test bed's initramfs-tools settings
            chroot(rootfs, "update-initramfs", "-u", "-k", "all", stdout=subprocess.DEVNULL)
    finally:
        (rootfs / "usr/sbin/grub-install").unlink()
        chroot(rootfs, "dpkg-divert", "--local", "--rename", "--remove", "/usr/sbin/grub-install")
        policy.unlink()
    # Later grub-pc upgrades happen inside the VM, where /dev/vda is the VM's own disk.
    chroot(rootfs, "debconf-set-selections", input=b"grub-pc grub-pc/install_devices multiselect /dev/vda\n")


def bootstrap_grub(rootfs: Path, work: Path) -> None:
    """Give the disk a GRUB that boots the image once; the first boot installs the real one."""
    grub_lib = rootfs / "usr/lib/grub/i386-pc"
    shutil.copytree(grub_lib, rootfs / "boot/grub/i386-pc", dirs_exist_ok=True)
    chroot(rootfs, "grub-mkimage", "-O", "i386-pc", "-o", "/boot/grub/core.img",
           "-p", "(hd0,msdos1)/boot/grub", "biosdisk", "part_msdos", "ext2")
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise SystemExit("image: no kernel in the image")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    (rootfs / "boot/grub/grub.cfg").write_text(
        "# First-boot configuration written by build_image.py; update-grub replaces it.\n"
        "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n"
        "set timeout=0\n"
        f"linux /boot/vmlinuz-{version} root=/dev/vda1 ro console=ttyS0,115200n8\n"
        f"initrd /boot/initrd.img-{version}\nboot\n"
    )
    shutil.move(rootfs / "boot/grub/core.img", work / "core.img")
    shutil.copy(grub_lib / "boot.img", work / "boot.img")


def make_disk(rootfs: Path, work: Path) -> Path:
    raw = work / "disk.raw"
    with open(raw, "wb") as disk:
        disk.truncate(DISK_MIB * 1024 * 1024)
    run("sfdisk", "-q", str(raw), input=f"label: dos\nstart={PARTITION_START_SECTOR}, type=83, bootable\n".encode())
    offset = PARTITION_START_SECTOR * 512
    size_kib = (DISK_MIB * 1024 * 1024 - offset) // 1024
    run("mke2fs", "-q", "-F", "-t", "ext4", "-L", "root", "-d", str(rootfs),
        "-E", f"offset={offset}", str(raw), f"{size_kib}k")
    core = (work / "core.img").read_bytes()
    if len(core) > offset - 512:
        raise SystemExit(f"image: core.img ({len(core)} bytes) does not fit before the partition")
    boot = (work / "boot.img").read_bytes()
    with open(raw, "r+b") as disk:
        disk.seek(0)
        disk.write(boot[:440])  # boot code only: keep the partition table
        disk.seek(512)
        disk.write(core)
    qcow = work / "base.qcow2"
    run("qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow))
    raw.unlink()
    return qcow


def first_boot(work: Path) -> None:
    """Boot the disk by its bootstrap GRUB and let the guest install its own GRUB."""
    name = f"image-build-{os.getpid()}"
    vm.start(name, work, memory_mb=1024, cpus=2, use_overlay=False)
    try:
        result = vm.ssh(name, ["set -e; grub-install /dev/vda; update-grub; grub-editenv /boot/grub/grubenv list;"
                               " rm -f /etc/ssh/ssh_host_*; ssh-keygen -A; sync"],
                        capture_output=True, text=True, check=False)
        log(result.stderr.strip())
        if result.returncode != 0:
            raise SystemExit(f"image: first boot setup failed: {result.stderr}")
    finally:
        vm.stop(name, powerdown_timeout=120)


def build(dest: Path, release: str) -> None:
    mirror, security = debian_mirrors()
    work = dest.parent / f".build-{dest.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rootfs = work / "rootfs"
    try:
        steps = [
            ("debootstrap", lambda: debootstrap(rootfs, mirror, release)),
            ("configure", lambda: configure(rootfs, work, mirror, security, release)),
            ("bootstrap GRUB", lambda: bootstrap_grub(rootfs, work)),
            ("disk image", lambda: make_disk(rootfs, work)),
            ("first boot", lambda: first_boot(work)),
        ]
        for title, step in steps:
            started = time.monotonic()
            step()
            log(f"{title}: {time.monotonic() - started:.0f} s")
        shutil.rmtree(rootfs)
        for leftover in ("core.img", "boot.img"):
            (work / leftover).unlink()
        work.rename(dest)
    except BaseException:
        unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)
        raise


def ensure_image(release: str = DEFAULT_RELEASE) -> Path:
    dest = image_dir(release)
    if (dest / "base.qcow2").exists():
        log(f"cache hit {dest.name}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dest / "base.qcow2").exists():
            if os.geteuid() != 0:
                raise SystemExit("image: building the image needs root (debootstrap, chroot)")
            log(f"building {dest.name} (several minutes)")
            started = time.monotonic()
            build(dest, release)
            log(f"built {dest} in {time.monotonic() - started:.0f} s")
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description="Build or find the test VM base image; print its folder.")
    parser.add_argument("--release", default=DEFAULT_RELEASE, choices=sorted(RELEASES),
                        help="Debian release (default %(default)s)")
    args = parser.parse_args()
    print(ensure_image(args.release))
    return 0


if __name__ == "__main__":
    sys.exit(main())
