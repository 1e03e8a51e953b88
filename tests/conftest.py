"""The one factory for test stacks' settings: `stack_settings(name, **overrides) -> Settings`.

Why it looks like this: two test runs on one machine (two `make test` at once, or one beside the
demo) must never share a port or an Asterisk run directory. So nobody types a port base any more:
each call reserves a free block of ports (tests/support/port_blocks.py: locked against every other
run on this machine, every port bind-tested), names the instance after it (`<name>-<base>`: the
managed Asterisk's run directory /srv/huifang/<instance> inside the shared rootfs is then never
used by two live runs, and a later run on the same block reuses it instead of piling up new ones),
and makes a fresh run directory from tmp_path_factory with the database in it
(`settings.database.parent` is that directory).

A block is given back when whatever asked for it is torn down: the fixture being set up when the
factory was called (a module-scoped stack frees its ports at the end of its module, a session one
at the end of the session), or the test itself when called from a test body. Holding every block
to the end of the session would need ~13 blocks per `make test`, more than fit below port 62000
for two runs. Child processes get the same settings through `settings.to_env()` (IVR_PORT_BASE,
IVR_INSTANCE, IVR_DB_PATH, ...), as before.
"""
from __future__ import annotations

import re

import pytest

from ivr import config
from tests.support import port_blocks

# how long a call waits for a block when every one is taken (another run frees one at a module's end)
WAIT_FOR_BLOCK_S = 240.0

# what is running right now, innermost last: the fixture being set up, or the test being called
_owners: list = []


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    _owners.append(request)
    try:
        return (yield)
    finally:
        _owners.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    _owners.append(item)
    try:
        return (yield)
    finally:
        _owners.pop()


class StackSettings:
    """Callable: `(name, **overrides) -> Settings` on a reserved port block (see the module docstring)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory):
        self.tmp_path_factory = tmp_path_factory
        self.blocks: list[port_blocks.PortBlock] = []

    def __call__(self, name: str, **overrides) -> config.Settings:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", name):
            raise ValueError(f"stack name {name!r}: lower-case letters, digits and '-' only (it names directories)")
        block = port_blocks.reserve(wait_s=WAIT_FOR_BLOCK_S)
        try:
            run_dir = self.tmp_path_factory.mktemp(name)
            values = {"instance": f"{name}-{block.base}", "port_base": block.base,
                      "db_path": str(run_dir / "huifang.db"), **overrides}
            settings = config.load().replace(**values)
        except BaseException:
            block.release()
            raise
        self.blocks.append(block)
        if _owners:
            _owners[-1].addfinalizer(block.release)
        print(f"stack {name!r}: ports {block.base}..{block.base + block.size - 1}, instance {settings.instance}, "
              f"run dir {run_dir}")
        return settings

    def release_all(self) -> None:
        for block in self.blocks:
            block.release()


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory):
    """`stack_settings(name, **overrides) -> Settings` for one stack of its own (ports, instance, run dir)."""
    factory = StackSettings(tmp_path_factory)
    yield factory
    factory.release_all()  # anything whose owner was not known
