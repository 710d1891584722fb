#!/usr/bin/env bash
# Prepare a fresh Debian/Ubuntu machine for gwlbd's lab and tests:
# system packages (only those missing), then the project's own virtual environment.
# Usage: scripts/bootstrap.sh [runtime|dev]
set -euo pipefail
profile="${1:-dev}"
cd "$(dirname "$0")/.."

# The interpreter of the virtual environment: $GWLBD_PYTHON if set, else the
# distribution's own python3 when it is 3.11 or newer (Debian and Ubuntu build it with
# profile-guided optimisation and LTO and link it statically: gwlbd's packet path costs
# about 20 % less CPU on it than on a shared, unoptimised build such as pyenv's default),
# else the python3 on PATH.
python="${GWLBD_PYTHON:-}"
if [ -z "$python" ]; then
    python=python3
    if [ -x /usr/bin/python3 ] \
        && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        python=/usr/bin/python3
    fi
fi

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
"$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ "$profile" = dev ]; then
    command -v nft >/dev/null 2>&1 || need+=(nftables)
    command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
fi
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing system packages (${need[*]}); run as root or install them" >&2
        exit 1
    fi
    echo "bootstrap: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Suricata (the tun-mode recipe's IDS) is not in Debian 12's main suite, only in its
# backports; elsewhere (Debian 13, Ubuntu) the plain package name works.
if [ "$profile" = dev ] && ! command -v suricata >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    if [ "$codename" = bookworm ]; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" \
            > /etc/apt/sources.list.d/gwlbd-backports.list
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends -t bookworm-backports suricata >/dev/null \
            || echo "bootstrap: suricata could not be installed; its recipe test will skip" >&2
    else
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends suricata >/dev/null \
            || echo "bootstrap: suricata could not be installed; its recipe test will skip" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=".venv/.installed-$profile"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    if [ "$profile" = dev ]; then
        .venv/bin/python -m pip install -q -e '.[dev]'
    else
        .venv/bin/python -m pip install -q -e .
    fi
    touch "$stamp"
fi
