#!/usr/bin/env bash
# Install everything Huifang needs on a fresh Debian 12 machine, idempotently:
# Debian packages, a virtualenv at .venv with the Python packages, the Asterisk 22 rootfs
# (Debian sid, via mmdebstrap, into ~/.cache/ivr) and the prompt audio.
# A second run only checks: it takes a few seconds.
# Two runs at once (two checkouts' `make test`, or two in one checkout) take turns: what the machine
# shares (Debian packages, the Asterisk rootfs in ~/.cache/ivr) is installed under a machine-wide lock,
# the checkout's .venv and prompt audio under a lock on the checkout directory itself.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 8<.                                                   # the checkout: flock 8
exec 9>>"${TMPDIR:-/tmp}/huifang-setup.lock"               # the machine: flock 9

# postgresql: the tests start a throwaway cluster of their own (tests/support/postgres.py)
DEBS=(mmdebstrap espeak-ng sox gcc libc6-dev sip-tester iproute2 postgresql)
[[ "${IVR_WITH_BROWSER:-1}" == "1" ]] && DEBS+=(chromium fonts-wqy-microhei)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  flock 9
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  flock -u 9
fi

flock 8

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python || ! -x .venv/bin/pip ]]; then
  # a .venv left half-made by an interrupted run has no pip: make it again
  echo "setup: creating .venv"
  rm -rf .venv
  "$PY" -m venv .venv
fi
stamp=.venv/.huifang-deps
want=$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp || "$(cat $stamp)" != "$want" ]]; then
  echo "setup: installing Python packages"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  echo "$want" > $stamp
fi

flock 9
.venv/bin/ivr asterisk install
flock -u 9
.venv/bin/ivr prompts build
echo "setup: ready"
