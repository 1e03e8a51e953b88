"""The Dockerfile and scripts/build-image.sh must keep agreeing with each other.

The build itself takes many minutes and stays out of the test suite; these checks catch the cheap ways
the two drift apart: a build argument the script passes that the Dockerfile no longer declares (buildah
only warns, and the build then tries to pull the public base image, which fails without a registry), a
stage the script targets that was renamed, a base image named directly instead of through an argument,
a wheelhouse the build context leaves out, or a Debian package scripts/setup.sh wants that the image
lacks (`make test` in the container would then run apt-get at run time).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SCRIPT = (ROOT / "scripts" / "build-image.sh").read_text()
SETUP = (ROOT / "scripts" / "setup.sh").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def stages() -> list[tuple[str, str | None, list[tuple[str, str]]]]:
    """(image, stage name, instructions) per FROM."""
    result: list[tuple[str, str | None, list[tuple[str, str]]]] = []
    for word, rest in instructions(DOCKERFILE):
        if word == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert m, rest
            result.append((m.group(1), m.group(2), []))
        elif result:
            result[-1][2].append((word, rest))
    return result


def global_args() -> dict[str, str | None]:
    args: dict[str, str | None] = {}
    for word, rest in instructions(DOCKERFILE):
        if word == "FROM":
            break
        if word == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default or None
    return args


def script_build_args() -> list[str]:
    return re.findall(r"--build-arg\s+([A-Z_]+)=", SCRIPT)


def script_value(name: str) -> str:
    m = re.search(rf"^{name}=(\S+)", SCRIPT, re.MULTILINE)
    assert m, f"build-image.sh sets no {name}"
    return m.group(1)


def test_every_build_arg_the_script_passes_is_declared():
    declared = set(global_args())
    for _image, _name, body in stages():
        declared |= {rest.partition("=")[0] for word, rest in body if word == "ARG"}
    passed = script_build_args()
    assert passed, "build-image.sh passes no --build-arg"
    assert set(passed) <= declared, f"not declared in the Dockerfile: {set(passed) - declared}"


def test_every_base_image_goes_through_an_argument_the_script_overrides():
    names = [name for _image, name, _body in stages()]
    args = global_args()
    for image, _name, _body in stages():
        if image in names:  # FROM an earlier stage
            continue
        m = re.fullmatch(r"\$\{?([A-Z_]+)\}?", image)
        assert m, f"FROM {image} names a registry image directly: it cannot be built without a registry"
        assert args.get(m.group(1)), f"{m.group(1)} has no public default for a real Docker build"
        assert m.group(1) in script_build_args(), f"build-image.sh does not replace {m.group(1)}"


def test_the_script_targets_an_existing_stage():
    target = re.search(r"--target\s+(\S+)", SCRIPT)
    assert target, "build-image.sh names no --target"
    assert target.group(1) in [name for _image, name, _body in stages()]


def test_the_wheelhouse_is_in_the_build_context_and_where_pip_looks():
    wheelhouse = script_value("WHEELHOUSE")
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert f"!{wheelhouse}" in ignore, f".dockerignore must keep {wheelhouse} in the build context"
    workdir = [rest for _i, _n, body in stages() for word, rest in body if word == "WORKDIR"][-1]
    assert f'PIP_FIND_LINKS="{workdir}/$WHEELHOUSE"' in SCRIPT


def test_the_image_has_every_debian_package_setup_sh_installs():
    wanted: set[str] = set()
    for line in SETUP.splitlines():
        m = re.match(r".*DEBS\+?=\(([^)]*)\)", line)
        if m:
            wanted |= set(m.group(1).split())
    assert {"espeak-ng", "sip-tester"} <= wanted, "setup.sh's DEBS lists were not found"
    _image, _name, body = stages()[-1]
    installed: set[str] = set()
    for word, rest in body:
        if word == "RUN" and "apt-get install" in rest:
            installed |= {w for w in shlex.split(rest) if re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", w)}
    assert wanted <= installed, f"missing from the image's apt-get install: {sorted(wanted - installed)}"
