"""How `make test` groups and orders tests for pytest-xdist (tests/support/distribution.py): a real
stack's tests share a worker, the persona-call readers share one, everything else runs anywhere, and
real-stack groups come first, longest first, each keeping its tests' order."""
from __future__ import annotations

from tests.support import distribution


class FakeItem:
    def __init__(self, nodeid: str, *fixtures: str):
        self.nodeid = nodeid
        self.fixturenames = list(fixtures)
        self.markers: list = []

    def add_marker(self, marker) -> None:
        self.markers.append(marker)

    @property
    def group(self) -> str | None:
        names = [m.args[0] for m in self.markers if m.name == "xdist_group"]
        assert len(names) <= 1
        return names[0] if names else None


def test_a_stack_test_is_grouped_by_its_module_and_a_plain_test_is_not():
    stack = FakeItem("tests/integration/test_x.py::test_a", "tmp_path", "stack_settings", "infra")
    plain = FakeItem("tests/unit/test_y.py::test_b", "tmp_path", "postgres_url")
    assert distribution.group_of(stack) == "tests/integration/test_x.py"
    assert distribution.group_of(plain) is None


def test_readers_of_the_persona_calls_share_one_group_across_modules():
    calls = FakeItem("tests/integration/test_calls.py::test_a", "stack_settings", "persona_calls")
    talk = FakeItem("tests/integration/test_conversation.py::test_b", "stack_settings", "persona_calls")
    agents = FakeItem("tests/integration/test_agents.py::test_c", "stack_settings", "stack")
    assert distribution.group_of(calls) == distribution.group_of(talk) == "integration-persona-calls"
    assert distribution.group_of(agents) == "tests/integration/test_agents.py"


def test_real_stack_groups_come_first_longest_first_and_every_group_keeps_its_order(monkeypatch):
    monkeypatch.setattr(distribution, "REAL_STACK_MINUTES", {"tests/integration/test_long.py": 5.0})
    items = [
        FakeItem("tests/unit/test_u.py::test_1"),
        FakeItem("tests/integration/test_short.py::test_1", "stack_settings"),
        FakeItem("tests/unit/test_u.py::test_2"),
        FakeItem("tests/integration/test_long.py::test_1", "stack_settings"),
        FakeItem("tests/integration/test_short.py::test_2", "stack_settings"),
        FakeItem("tests/integration/test_long.py::test_2", "stack_settings"),
    ]
    distribution.assign_groups(items)
    assert [i.nodeid for i in items] == [
        "tests/integration/test_long.py::test_1", "tests/integration/test_long.py::test_2",
        "tests/integration/test_short.py::test_1", "tests/integration/test_short.py::test_2",
        "tests/unit/test_u.py::test_1", "tests/unit/test_u.py::test_2",
    ]
    assert [i.group for i in items] == ["tests/integration/test_long.py"] * 2 + \
        ["tests/integration/test_short.py"] * 2 + [None, None]


def test_every_listed_group_names_a_module_that_exists_or_the_persona_group():
    from ivr.config import REPO_ROOT
    for group in distribution.REAL_STACK_MINUTES:
        assert group in distribution.SHARED_SESSION_RESULTS.values() or (REPO_ROOT / group).is_file(), group


def test_the_controller_and_its_workers_both_count_as_distributing():
    from types import SimpleNamespace as NS
    assert distribution.distributes(NS(option=NS(dist="loadgroup")))                 # the controller
    assert distribution.distributes(NS(option=NS(dist="no", loadgroup=True)))        # a worker
    assert not distribution.distributes(NS(option=NS(dist="no", loadgroup=False)))   # -n 2 --dist load
    assert not distribution.distributes(NS(option=NS(dist="no")))                    # no xdist


def test_a_stack_modules_tests_really_meet_in_one_worker(tmp_path):
    """End to end with the installed pytest and xdist (xdist 3.8 alone cannot group on pytest 9.2): two
    workers, a module whose tests use `stack_settings`, a plain one, and a module whose stack is
    module-scoped and parametrized by engine (test_campaign_dialer's `engine_stack`, the browser tests'
    `engine`); each test notes its worker. The engine module's tests all meet in one worker too, each
    stack is built once, and the SQLite one is torn down before the PostgreSQL one is built."""
    import os
    import subprocess
    import sys
    from ivr.config import REPO_ROOT
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "from tests.conftest import pytest_configure, pytest_collection_modifyitems  # noqa: F401\n"
        "@pytest.fixture(scope='session')\ndef stack_settings():\n    return None\n")
    for module, uses in (("stack", "stack_settings"), ("plain", "")):
        (tmp_path / f"test_{module}.py").write_text("import os, time\n" + "".join(
            f"def test_{i}({uses}):\n    time.sleep(0.2)\n"
            f"    open({str(tmp_path / 'seen.txt')!r}, 'a').write('{module} ' + os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n"
            for i in range(6)))
    log = tmp_path / "engines.txt"
    (tmp_path / "test_engines.py").write_text(
        "import os, time, pytest\n"
        f"def note(text):\n    open({str(log)!r}, 'a').write(text + ' ' + os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n"
        "@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])\n"
        "def engine_stack(request, stack_settings):\n"
        "    note('up-' + request.param)\n    yield request.param\n    note('down-' + request.param)\n"
        + "".join(f"def test_{i}(engine_stack):\n    time.sleep(0.2)\n    note('test-' + engine_stack)\n"
                  for i in range(3)))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
                          str(tmp_path)], cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    seen = [line.split() for line in (tmp_path / "seen.txt").read_text().splitlines()]
    assert len(seen) == 12
    assert len({worker for module, worker in seen if module == "stack"}) == 1, seen
    engines = [line.split() for line in log.read_text().splitlines()]
    assert len({worker for _, worker in engines}) == 1, engines
    assert [what for what, _ in engines] == ["up-sqlite"] + ["test-sqlite"] * 3 + ["down-sqlite", "up-postgresql"] + \
        ["test-postgresql"] * 3 + ["down-postgresql"], engines
