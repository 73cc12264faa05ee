#!/usr/bin/env bash
# Set up izer on a Debian/Ubuntu machine with Python 3.11+, then run it or test it.
#
#   bash installer/setup.sh run    # environment + izer on its embedded defaults
#   bash installer/setup.sh test   # environment + test peers (apt) + the whole test suite
#
# Extra arguments after "test" go to pytest; after "run", to izer.
set -euo pipefail

cd "$(dirname "$0")/.."
mode="${1:-}"
shift || true
venv="${IZER_VENV:-.venv}"
python="${PYTHON:-python3}"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    # Installs the Debian packages given that are not installed yet.
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]}, and apt-get is not available"
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

check_python() {
    command -v "$python" >/dev/null || die "$python not found; install Python 3.11 or newer"
    "$python" - <<'PY' || die "izer needs Python 3.11 or newer ($python is older)"
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY
}

make_venv() {
    if [ ! -x "$venv/bin/python" ]; then
        say "creating the virtual environment $venv"
        if ! "$python" -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            apt_install python3-venv
            "$python" -m venv "$venv"
        fi
    fi
}

pip_install() {
    # Re-installs only when pyproject.toml changed since the last install.
    local extras="$1" stamp="$venv/.izer-installed$1"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        say "installing izer$extras and its Python dependencies"
        "$venv/bin/python" -m pip install -q --upgrade pip
        "$venv/bin/python" -m pip install -q -e ".$extras"
        touch "$stamp"
    fi
}

npm_install() {
    # The Node test peers' dependencies (dcmjs-dimse, pinned by package-lock.json),
    # installed again only when the lock file changed.
    local folder="$1" stamp="$1/node_modules/.package-lock.json"
    if [ ! -f "$stamp" ] || [ "$folder/package-lock.json" -nt "$stamp" ]; then
        say "installing the npm packages of $folder"
        (cd "$folder" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
    fi
}

case "$mode" in
    run)
        check_python
        if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v apt-get >/dev/null; then
            # The X11 libraries Qt's xcb platform plugin needs (not in the PyQt6 wheel).
            apt_install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
                libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 \
                libxkbcommon-x11-0
        fi
        make_venv
        pip_install ""
        exec "$venv/bin/izer" "$@"
        ;;
    test)
        check_python
        apt_install orthanc orthanc-gdcm orthanc-dicomweb dcmtk dicom3tools ffmpeg xorriso \
            genisoimage xvfb openssl poppler-utils cups-daemon cups-client libsane-dev \
            libportaudio2 gcc python3-dev nodejs chromium cdrskin libxcb-cursor0 libxcb-icccm4 \
            libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 \
            libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0
        # Debian's nodejs lacks npm (package npm); NodeSource's nodejs bundles it.
        command -v npm >/dev/null || apt_install npm
        npm_install tests/peers/node_peers
        make_venv
        pip_install "[dev]"
        "$venv/bin/ruff" check .
        "$venv/bin/ruff" format --check .
        exec "$venv/bin/python" -m pytest "$@"
        ;;
    *)
        die "usage: bash installer/setup.sh run|test [arguments]"
        ;;
esac
