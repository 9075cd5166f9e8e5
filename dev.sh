#!/usr/bin/env bash
# The project's one entry point on a fresh Debian machine (run as root):
#   ./dev.sh demo    set everything up, then run the demo on the embedded defaults
#   ./dev.sh test    set everything up, then run the whole test suite
#   ./dev.sh setup   only set up (apt, the Python venv, npm tools, the Asterisk root)
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
VENV=${PBX_BRIDGE_VENV:-$HERE/.venv}

log() { printf '==> %s\n' "$*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "dev.sh: run as root (apt packages and the Asterisk root need it)" >&2
        exit 1
    fi
}

apt_packages() {
    local wanted missing=()
    wanted=$(grep -v '^\s*#' scripts/apt-packages.txt | awk 'NF {print $1}')
    for pkg in $wanted; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

python_bin() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c \
            'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"; return
        fi
    done
    echo "dev.sh: Python 3.11 or newer with venv is needed" >&2
    exit 1
}

python_env() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        "$(python_bin)" -m venv "$VENV"
    fi
    log "pip install -e .[test]"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[test]" 2>&1 \
        | grep -v "^WARNING: Location" || true
}

npm_tools() {
    if ! command -v npm >/dev/null 2>&1; then
        log "apt-get install nodejs npm"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            nodejs npm >/dev/null
    fi
    if [ -f tools/package.json ]; then
        log "npm install (tools/)"
        (cd tools && npm install --no-audit --no-fund --silent >/dev/null)
    fi
}

setup() {
    need_root
    apt_packages
    python_env
    npm_tools
    log "provisioning the Asterisk root"
    "$VENV/bin/pbx-bridge" lab provision
}

case "${1:-}" in
    setup) setup ;;
    demo)
        setup
        bridge="$VENV/bin/pbx-bridge"
        log "pbx-bridge check config/example.yaml"
        "$bridge" check config/example.yaml
        log "pbx-bridge route: a call to the main line on a Tuesday morning, then on Christmas"
        "$bridge" route config/example.yaml --to 33170000102 --at 2026-11-24T10:00:00
        "$bridge" route config/example.yaml --to 33170000102 --at 2026-12-25T10:00:00
        log "pbx-bridge lab demo: the same office on a real Asterisk (generated dialplan, call router, delivery worker), sipp phones and carrier"
        exec "$bridge" lab demo --config config/example.yaml
        ;;
    test)
        setup
        shift
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
