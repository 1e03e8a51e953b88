# Huifang in one image. Asterisk 22 comes from Debian sid: a build stage installs it, and the whole
# stage filesystem becomes the rootfs our managed Asterisk runs in (chroot, as on a plain machine).
# The Python side needs 3.11 (the pjsua2 wheel used by the phone simulators is cp311).
#
#   docker build -t huifang .
#   docker run --rm -p 127.0.0.1:15500:15500 huifang            # the demo
#   docker run --rm huifang make test                             # the test suite
FROM debian:sid AS asterisk
RUN apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends asterisk asterisk-modules \
 && rm -rf /var/lib/apt/lists/*

FROM python:3.11-slim-bookworm
ENV DEBIAN_FRONTEND=noninteractive \
    XDG_CACHE_HOME=/var/cache \
    IVR_WITH_BROWSER=1 \
    PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng sox gcc libc6-dev sip-tester iproute2 make chromium \
 && rm -rf /var/lib/apt/lists/*
COPY --from=asterisk / /var/cache/ivr/asterisk-rootfs/
WORKDIR /opt/huifang
COPY . .
# the venv the Makefile expects, the rootfs adopted as ours, prompt audio generated
RUN python -m venv .venv \
 && .venv/bin/pip install --no-cache-dir -e '.[test]' \
 && .venv/bin/ivr asterisk install --adopt \
 && .venv/bin/ivr prompts build
# Asterisk runs in a chroot inside the container: the default capabilities include SYS_CHROOT.
# Every socket binds 127.0.0.1 by default; set IVR_BIND to expose SIP/RTP to a real trunk.
CMD [".venv/bin/ivr", "demo"]
