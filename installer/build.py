"""Build izer's one-folder application with PyInstaller and, on Linux, its .deb package.

    python installer/build.py [--out DIR] [--deb | --no-deb] [--compression zstd|gzip|xz]

1. PyInstaller runs installer/izer.spec into ``DIR/pyinstaller/dist/izer/`` (work files in
   ``DIR/pyinstaller/build/``).
2. Linux: the folder is laid out as a Debian package tree in ``DIR/deb-root/``: the app in
   ``/opt/izer/``, ``/usr/bin/izer`` linking to it, a desktop entry and an icon.
3. ``dpkg-deb --root-owner-group --build`` makes ``DIR/izer_<version>_<arch>.deb``.

On Windows, installer/windows/izer.iss (Inno Setup) packages the folder of step 1. Run with
the Python environment izer is installed in (``pip install -e ".[package]"``): PyInstaller
bundles what that environment holds. Notes, sizes and times: installer/BUILDING.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "installer" / "izer.spec"
LOGO = ROOT / "assets" / "logo.png"
DEFAULT_OUT = ROOT / "build" / "installer"
INSTALL_DIR = "opt/izer"
ICON_SIZE = 256
#: No project mail address exists yet: ``.invalid`` (RFC 2606) says so; --maintainer sets one.
MAINTAINER = "izer project <packaging@izer.invalid>"
#: Besides glibc (at least the build machine's): the X11 libraries Qt's xcb platform plugin
#: loads from the system (installer/setup.sh's list), and OpenGL/EGL, which PyInstaller never
#: bundles.
DEPENDS = (
    "libgl1",
    "libegl1",
    "libfontconfig1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxcb-xinerama0",
    "libxcb-shape0",
    "libxcb-randr0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
)
#: Left out of the bundle on purpose (see installer/izer.spec): scanners (SANE), the microphone
#: (PortAudio), and Wayland sessions (Qt falls back to xcb/XWayland without them).
RECOMMENDS = ("libsane1", "libportaudio2", "libwayland-client0", "libwayland-cursor0")
#: Programs izer runs when present: disc burning, system printing, PDF page previews.
SUGGESTS = ("xorriso", "cdrskin", "cups-client", "poppler-utils")
DESCRIPTION = """\
DICOMizer workstation: capture, encode, send to PACS
 izer captures stills, clips, scans and documents from endoscopes, cameras,
 scanners and files, encodes them as DICOM with patient and study data from
 the modality worklist, keeps them in a local study store and sends them to
 PACS, printers and media. Run "izer" for the workstation window, "izer demo"
 for a headless demo procedure, "izer --help" for every command."""
DESKTOP_ENTRY = """\
[Desktop Entry]
Type=Application
Name=izer
GenericName=DICOMizer workstation
Comment=Capture images and video and send them to PACS as DICOM
Exec=izer gui
Icon=izer
Terminal=false
Categories=MedicalSoftware;Science;Graphics;
Keywords=DICOM;PACS;endoscopy;capture;
"""
COMPRESSION = {"zstd": ["-Zzstd", "-z3"], "gzip": ["-Zgzip", "-z1"], "xz": ["-Zxz", "-z6"]}
NO_DPKG_DEB = (
    "dpkg-deb not found: install dpkg (Debian, Ubuntu), or build only the application "
    "folder with --no-deb"
)
DEB_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class BuildError(Exception):
    """A step failed; the message says what to do."""


def izer_version() -> str:
    """``__version__`` of izer/__init__.py (read, not imported)."""
    text = (ROOT / "izer" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise BuildError("izer/__init__.py has no __version__ line")
    return match.group(1)


def phase(text: str) -> None:
    print(f"build: {text}", flush=True)


def run_pyinstaller(out: Path, clean: bool) -> Path:
    """Freeze izer into ``out/pyinstaller/dist/izer``; return that folder."""
    if importlib.util.find_spec("PyInstaller") is None:
        raise BuildError(
            f"PyInstaller is not installed for {sys.executable}: "
            'run pip install -e ".[package]" (or ".[dev]") in the izer checkout'
        )
    dist = out / "pyinstaller" / "dist"
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(out / "pyinstaller" / "build"),
        str(SPEC),
    ]
    if clean:
        command.insert(3, "--clean")
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise BuildError("PyInstaller failed (its messages are above)")
    app = dist / "izer"
    executable = app / ("izer.exe" if sys.platform == "win32" else "izer")
    if not executable.is_file():
        raise BuildError(f"PyInstaller made no {executable}")
    return app


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symbolic links not followed)."""
    return sum(
        path.lstat().st_size
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink()
    )


def write_icon(target: Path) -> None:
    """assets/logo.png centred on a transparent ICON_SIZE square (the hicolor theme size)."""
    from PIL import Image

    with Image.open(LOGO) as logo:
        picture = logo.convert("RGBA")
    picture.thumbnail((ICON_SIZE, ICON_SIZE), Image.Resampling.LANCZOS)
    icon = Image.new("RGBA", (ICON_SIZE, ICON_SIZE), (0, 0, 0, 0))
    icon.paste(picture, ((ICON_SIZE - picture.width) // 2, (ICON_SIZE - picture.height) // 2))
    icon.save(target, "PNG")


def glibc_dependency() -> str:
    """``libc6 (>= X)`` with this machine's glibc: the bundled Python and libraries need it."""
    name, version = platform.libc_ver()
    if name != "glibc" or not version:
        raise BuildError("cannot tell this machine's glibc version; build on Debian or Ubuntu")
    return f"libc6 (>= {version})"


def control_file(version: str, architecture: str, installed_kib: int, maintainer: str) -> str:
    """DEBIAN/control (Debian Policy 5.3)."""
    return (
        f"Package: izer\n"
        f"Version: {version}\n"
        f"Architecture: {architecture}\n"
        f"Maintainer: {maintainer}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {', '.join([glibc_dependency(), *DEPENDS])}\n"
        f"Recommends: {', '.join(RECOMMENDS)}\n"
        f"Suggests: {', '.join(SUGGESTS)}\n"
        f"Section: science\n"
        f"Priority: optional\n"
        f"Description: {DESCRIPTION}\n"
    )


def stage_deb(app: Path, root: Path, version: str, architecture: str, maintainer: str) -> None:
    """Lay out the package tree in ``root`` (replaced if present)."""
    if root.exists():
        shutil.rmtree(root)
    install = root / INSTALL_DIR
    shutil.copytree(app, install, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "izer").symlink_to(f"/{INSTALL_DIR}/izer")
    applications = root / "usr" / "share" / "applications"
    applications.mkdir(parents=True)
    (applications / "izer.desktop").write_text(DESKTOP_ENTRY, encoding="utf-8")
    icons = root / "usr" / "share" / "icons" / "hicolor" / f"{ICON_SIZE}x{ICON_SIZE}" / "apps"
    icons.mkdir(parents=True)
    write_icon(icons / "izer.png")
    installed_kib = (folder_size(root) + 1023) // 1024
    debian = root / "DEBIAN"
    debian.mkdir()
    (debian / "control").write_text(
        control_file(version, architecture, installed_kib, maintainer), encoding="utf-8"
    )
    # Whatever the umask: directories and programs 0755, other files 0644 (Policy 10.9).
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or os.access(path, os.X_OK)
        path.chmod(0o755 if executable else 0o644)


def build_deb(root: Path, package: Path, compression: str) -> None:
    """``dpkg-deb --build`` the tree into ``package``."""
    if shutil.which("dpkg-deb") is None:
        raise BuildError(NO_DPKG_DEB)
    command = ["dpkg-deb", "--root-owner-group", *COMPRESSION[compression], "--build"]
    done = subprocess.run([*command, str(root), str(package)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"dpkg-deb failed: {done.stderr.strip() or done.stdout.strip()}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python installer/build.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder (default: {DEFAULT_OUT.relative_to(ROOT)} in the checkout)",
    )
    parser.add_argument(
        "--deb",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="build the .deb package (default: on Linux)",
    )
    parser.add_argument(
        "--compression",
        choices=sorted(COMPRESSION),
        default="zstd",
        help="the .deb's compression: zstd (default; dpkg 1.21.18+, Debian 12, Ubuntu 22.04), "
        "gzip (any dpkg, larger) or xz (smallest, slow)",
    )
    parser.add_argument(
        "--maintainer",
        default=MAINTAINER,
        metavar="'NAME <EMAIL>'",
        help=f"the .deb's Maintainer field (default: {MAINTAINER})",
    )
    parser.add_argument(
        "--clean", action="store_true", help="empty PyInstaller's cache before building"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    linux = sys.platform.startswith("linux")
    deb = linux if args.deb is None else args.deb
    out = args.out.resolve()
    try:
        if deb and not linux:
            raise BuildError("--deb works on Linux only; on Windows use installer/windows/izer.iss")
        architecture = DEB_ARCHITECTURES.get(platform.machine().lower(), "")
        if deb and not architecture:
            raise BuildError(f"no Debian architecture known for {platform.machine()}")
        if deb and not re.fullmatch(r"[^<>\n]+ <[^<>@\s]+@[^<>@\s]+>", args.maintainer):
            raise BuildError(f"--maintainer {args.maintainer!r}: write it as 'Name <email>'")
        if deb and shutil.which("dpkg-deb") is None:
            raise BuildError(NO_DPKG_DEB)
        version = izer_version()
        steps = 3 if deb else 1
        started = time.monotonic()
        phase(f"[1/{steps}] PyInstaller: izer {version} into {out / 'pyinstaller' / 'dist'}")
        app = run_pyinstaller(out, args.clean)
        size = folder_size(app)
        phase(f"application folder {app} ({size / 1e6:.0f} MB)")
        if not deb:
            phase(f"done in {time.monotonic() - started:.0f} s: {app}")
            return 0
        root = out / "deb-root"
        phase(f"[2/{steps}] package tree in {root}")
        stage_deb(app, root, version, architecture, args.maintainer)
        package = out / f"izer_{version}_{architecture}.deb"
        phase(f"[3/{steps}] dpkg-deb ({args.compression}) into {package}")
        build_deb(root, package, args.compression)
        shutil.rmtree(root)
        elapsed = time.monotonic() - started
        phase(f"done in {elapsed:.0f} s: {package} ({package.stat().st_size / 1e6:.0f} MB)")
        return 0
    except BuildError as error:
        print(f"build: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
