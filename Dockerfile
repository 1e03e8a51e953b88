# Huifang in one image. Asterisk 22 comes from Debian sid: a build stage installs it, and the whole
# stage filesystem becomes the rootfs our managed Asterisk runs in (chroot, as on a plain machine).
# The Python side runs on Debian 12's own Python 3.11 (the pjsua2 wheel used by the phone simulators
# is cp311, manylinux_2_28: bookworm's glibc 2.36 satisfies it).
#
#   docker build -t huifang .
#   docker run --rm --network host huifang        # the demo; its dashboard on this host's 127.0.0.1:15500
#   docker run --rm huifang make test             # the test suite
#
# Without a Docker daemon or an image registry, scripts/build-image.sh builds this file with buildah:
# it bootstraps both base images with mmdebstrap and passes their local names through DEBIAN_SID and
# DEBIAN_BOOKWORM, and builds a wheelhouse on the host that pip installs from (PIP_NO_INDEX and
# PIP_FIND_LINKS are pip's own environment settings; unset, pip uses its index as usual).
ARG DEBIAN_SID=debian:sid
ARG DEBIAN_BOOKWORM=debian:bookworm-slim

FROM ${DEBIAN_SID} AS asterisk
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends asterisk asterisk-modules \
 && rm -rf /var/lib/apt/lists/*

FROM ${DEBIAN_BOOKWORM} AS huifang
ENV DEBIAN_FRONTEND=noninteractive \
    XDG_CACHE_HOME=/var/cache \
    IVR_WITH_BROWSER=1 \
    PYTHONUNBUFFERED=1
# python3 (the venv's Debian pip checks HTTPS against ca-certificates when it uses an index) and every
# package scripts/setup.sh checks for, so `make test` in the container installs nothing
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates make tzdata \
      mmdebstrap espeak-ng sox gcc libc6-dev sip-tester iproute2 postgresql chromium fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/*
COPY --from=asterisk / /var/cache/ivr/asterisk-rootfs/
WORKDIR /opt/huifang
COPY . .
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
# the venv the Makefile expects, the rootfs adopted as ours, then setup.sh (stamps the venv, builds the
# prompt audio) so that `make demo` / `make test` in the container find everything in place; the
# wheelhouse, if one was given, is not needed after this.
RUN python3 -m venv .venv \
 && .venv/bin/pip install --no-cache-dir -e '.[test]' \
 && .venv/bin/ivr asterisk install --adopt \
 && PIP_NO_CACHE_DIR=1 PYTHON=python3 ./scripts/setup.sh \
 && rm -rf build/wheelhouse
# Asterisk runs in a chroot inside the container: the default capabilities include SYS_CHROOT.
# Every socket binds 127.0.0.1 by default; set IVR_BIND to expose SIP/RTP to a real trunk.
CMD [".venv/bin/ivr", "demo"]
