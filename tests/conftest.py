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

A real PostgreSQL for the tests that need one:

`postgres_cluster` starts one throwaway cluster the first time a test asks for it in a session and
stops it at the end (tests/support/postgres.py); `postgres_url` gives each test its own fresh, empty
database in it (a SQLAlchemy URL for psycopg 3), dropped afterwards.

`engine_url`, `any_db` and `store` run a test once per engine (ids `sqlite`, `postgresql`), on a
migrated empty database: `any_db` is the handle components get, `store` its `ivr.db.store.Store`.

Under `make test` the suite runs on pytest-xdist workers; which tests must share a worker, and the
order groups are handed out in, is tests/support/distribution.py.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ivr import config
from ivr.db import migrate
from ivr.db.connect import Database, connect
from ivr.db.store import Store, open_store, store_of
from tests.support import distribution, fuzzing, port_blocks
from tests.support.postgres import PostgresCluster

def pytest_configure(config):
    distribution.configure(config)
    fuzzing.load_profile()


@pytest.hookimpl(tryfirst=True)  # before xdist's worker appends each item's group to its node id
def pytest_collection_modifyitems(config, items):
    if distribution.distributes(config):
        distribution.assign_groups(items, in_worker=bool(getattr(config.option, "loadgroup", False)))


# how long a call waits for a block when every one is taken (another run frees one at a module's end)
WAIT_FOR_BLOCK_S = 600.0

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
            # one dialog worker unless a test asks for more: each loads the speech models (~0.5 GB, seconds
            # of a core), and two test runs share two cores (tests/integration/test_dialog_workers.py runs two)
            values = {"instance": f"{name}-{block.base}", "port_base": block.base,
                      "db_path": str(run_dir / "huifang.db"), "dialog_workers": 1, **overrides}
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



@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    name = postgres_cluster.create_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


@pytest.fixture(scope="session")
def postgres_migrated(postgres_cluster: PostgresCluster) -> str:
    """The name of a database of the session's cluster that Alembic brought to head, once: a template
    each `engine_url` test copies in ~0.1 s instead of migrating its own (~2 s)."""
    name = postgres_cluster.create_database()
    migrate.upgrade(postgres_cluster.url(name))
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A migrated, empty Huifang database on each engine: an SQLite file in tmp_path, or a fresh database
    in the session's PostgreSQL (started only when a test asks for this engine), a copy of the migrated
    template."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'huifang.db'}"
        migrate.upgrade(url)
        yield url
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database(template=request.getfixturevalue("postgres_migrated"))
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
def any_db(engine_url: str) -> Iterator[Database | Store]:
    """The handle a component is given on each engine: `connect()`'s sqlite-utils handle with its
    `.store` on SQLite, a bare Store on PostgreSQL (ported code must work with both)."""
    path = migrate.sqlite_path(engine_url)
    handle: Database | Store = connect(path, migrate=False) if path is not None else open_store(engine_url)
    try:
        yield handle
    finally:
        store_of(handle).close()


@pytest.fixture
def store(any_db: Database | Store) -> Store:
    """The Store of `any_db`."""
    return store_of(any_db)
