#!/usr/bin/env bash
# Build the repository's Dockerfile without a Docker daemon and without an image registry, then run
# `ivr demo --no-serve` inside the image to its summary.
#
# Why it looks like this: buildah builds Dockerfiles daemonless; chroot isolation because OCI isolation
# fails on kernels whose cgroups it cannot drive, vfs storage because it needs no kernel support. The
# two base images (debian:sid, debian:bookworm-slim) cannot be pulled, so mmdebstrap bootstraps them
# and they enter buildah's store as localhost/debian:*; the Dockerfile's DEBIAN_SID / DEBIAN_BOOKWORM
# arguments switch to those names. pip inside the build sees none of this machine's pip configuration,
# so the wheels are built here (with it) into build/wheelhouse and installed from there, offline.
# The store (bases included) is kept under the work directory, so a second build reuses the bases.
#
#   nice -n 10 scripts/build-image.sh [--no-demo] [--fresh]
#
# Environment: IVR_IMAGE_TAG (default localhost/huifang:latest), IVR_IMAGE_WORK (default runs/image),
# PYTHON (a Python 3.11 to build the wheels with, default python3), HUIFANG_STACK_LOCK (see the demo).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${IVR_IMAGE_TAG:-localhost/huifang:latest}
WORK=$(realpath -m "${IVR_IMAGE_WORK:-runs/image}")
PY=${PYTHON:-python3}
LOCK=${HUIFANG_STACK_LOCK:-/tmp/huifang-stack.lock}
WHEELHOUSE=build/wheelhouse                      # inside the build context (see .dockerignore)
SID_LOCAL=localhost/debian:sid                   # stands for the Dockerfile's debian:sid
BOOKWORM_LOCAL=localhost/debian:bookworm-slim    # stands for the Dockerfile's debian:bookworm-slim
SID_APTOPT='Acquire::Check-Valid-Until "false"'  # the sid Release file on mirrors may be past Valid-Until

run_demo=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) run_demo=0 ;;
    --fresh) rm -rf "$WORK" ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

fail() { echo "build-image: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "needs root (mmdebstrap and buildah's chroot isolation)"
command -v buildah >/dev/null || fail "buildah is not installed: apt-get install buildah"
command -v mmdebstrap >/dev/null || fail "mmdebstrap is not installed: apt-get install mmdebstrap"
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
  || fail "$PY is not Python 3.11: the image runs Debian 12's 3.11, so the wheels must be cp311 (set PYTHON=...)"

mkdir -p "$WORK"
bah() { buildah --root "$WORK/storage" --runroot "$WORK/runroot" --storage-driver vfs "$@"; }

timings=()
stage() {  # stage NAME COMMAND...: run it, remember how long it took
  local name=$1 start end
  shift
  echo "== $name" >&2
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  timings+=("$(awk -v n="$name" -v a="$start" -v b="$end" 'BEGIN { printf "%-30s %7.1f s", n, b - a }')")
}

base_image() {  # base_image SUITE NAME [mmdebstrap options...]: bootstrap once into the store
  local suite=$1 name=$2 tar c
  shift 2
  if bah inspect --type image "$name" >/dev/null 2>&1; then
    echo "$name already in the store" >&2
    return
  fi
  tar="$WORK/$suite.tar"
  mmdebstrap --quiet --variant=minbase "$@" "$suite" "$tar"
  c=$(bah from scratch)
  bah add --quiet "$c" "$tar" /
  bah config --cmd /bin/bash "$c"
  bah commit --quiet --rm "$c" "$name" >/dev/null
  rm -f "$tar"
}

wheelhouse() {
  rm -rf "$WHEELHOUSE"
  "$PY" -m pip wheel --quiet --wheel-dir "$WHEELHOUSE" '.[test]' pip 'setuptools>=77'
  rm -f "$WHEELHOUSE"/huifang_ivr-*.whl   # the image installs the project itself from its source (-e)
}

build() {
  bah bud --isolation chroot --pull=never --target huifang \
    --build-arg DEBIAN_SID="$SID_LOCAL" --build-arg DEBIAN_BOOKWORM="$BOOKWORM_LOCAL" \
    --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS="/opt/huifang/$WHEELHOUSE" \
    --file Dockerfile --tag "$TAG" .
  bah rmi --prune >/dev/null 2>&1 || true   # the previous build's image, now untagged
}

demo_status=skipped
container=
new_container() { container=$(bah from --pull=never "$TAG"); }
take_stack_lock() {
  # chroot isolation has no network namespace: the container's stack shares this machine's loopback,
  # so it waits for the lock every local stack run takes (one stack at a time)
  exec 9>"$LOCK"
  flock 9
}
demo() {
  local out="$WORK/demo"
  rm -rf "$out" && mkdir -p "$out"
  set +e
  bah run --isolation chroot --volume "$out:/srv/demo" "$container" -- .venv/bin/ivr demo --no-serve --out /srv/demo 9>&-
  demo_status=$?
  set -e
  flock --unlock 9
  bah rm "$container" >/dev/null
}

stage "base image bookworm" base_image bookworm "$BOOKWORM_LOCAL"
stage "base image sid" base_image sid "$SID_LOCAL" "--aptopt=$SID_APTOPT"
stage "wheelhouse (pip wheel)" wheelhouse
stage "buildah bud" build
if ((run_demo)); then
  stage "container from the image" new_container
  stage "waiting for the stack lock" take_stack_lock
  stage "ivr demo --no-serve (inside)" demo
fi

size=$(bah images --noheading --format '{{.Size}}' "$TAG" | head -1)
{
  echo "image $TAG: $size"
  printf '%s\n' "${timings[@]}"
  echo "demo exit status: $demo_status"
} | tee "$WORK/timings.txt"
[[ $demo_status == skipped || $demo_status == 0 ]]
