"""How `make test` spreads the suite over pytest-xdist workers (`-n auto --dist loadgroup`).

Why it looks like this: most of the suite's wall time is real calls, which wait on the clock, not on
the CPU; two workers let two real stacks make calls at once while unit tests fill the gaps. Three
rules keep that both correct and short:

* A test that builds a real stack (its fixtures reach `stack_settings`) runs on the same worker as
  the rest of its module: module-scoped stacks are built once, and the module's tests keep their
  order. Tests that read the integration session's `persona_calls` (one concurrent run of every
  persona, shared by test_calls, test_conversation and test_loopback) form one group, so those calls
  are placed once per run, as before. Every other test is scheduled on its own.
* Real-stack groups are handed out first, the longest first (`REAL_STACK_MINUTES`, measured on the
  2-core machine; a module missing from the table counts as `UNLISTED_MINUTES`), so no long module
  is left to start when the unit tests are done; xdist's own reordering (by number of tests) is
  switched off for `--dist loadgroup` so this order is the one used.
* Session fixtures are per worker: each worker that needs one starts its own PostgreSQL cluster or
  integration stack, on its own free port block (tests/support/port_blocks.py locks blocks across
  processes). Nothing here changes what a test does, and without xdist (`pytest -q tests/unit/...`)
  the collection order is left alone.
"""
from __future__ import annotations

import pytest

# the fixture whose result several modules share: their tests must meet in one worker
SHARED_SESSION_RESULTS = {"persona_calls": "integration-persona-calls"}

# minutes each real-stack group took alone (serial run, --durations, load ~3 on 2 cores); only the order matters.
# The three modules that run on both engines were re-measured with both (load 3-8: other runs beside them).
REAL_STACK_MINUTES = {
    "tests/integration/test_campaign_dialer.py": 12.5,
    "tests/integration/test_no_pii_in_logs.py": 4.0,
    "tests/browser/test_dashboard.py": 3.6,
    "integration-persona-calls": 3.0,
    "tests/integration/test_faults_infra.py": 3.0,
    "tests/integration/test_faults_dialog.py": 2.6,
    "tests/integration/test_external_pbx.py": 2.5,
    "tests/integration/test_announcements.py": 2.0,
    "tests/integration/test_metrics_demo.py": 2.0,
    "tests/integration/test_agents.py": 1.5,
}
UNLISTED_MINUTES = 1.0


def group_of(item: pytest.Item) -> str | None:
    """The xdist group an item must share with others, or None when it can run anywhere."""
    names = set(item.fixturenames)
    for fixture, group in SHARED_SESSION_RESULTS.items():
        if fixture in names:
            return group
    if "stack_settings" in names:
        return item.nodeid.split("::", 1)[0]
    return None


def distributes(config: pytest.Config) -> bool:
    """True in the xdist controller and its workers under --dist loadgroup (a worker's own `dist` is
    "no"; xdist leaves `loadgroup` set there instead)."""
    return getattr(config.option, "dist", "no") == "loadgroup" or bool(getattr(config.option, "loadgroup", False))


def configure(config: pytest.Config) -> None:
    if distributes(config):
        config.option.loadscopereorder = False  # keep the order `assign_groups` chose


def _rename(item: pytest.Item, nodeid: str) -> None:
    if hasattr(item, "_id"):  # pytest >= 9.2
        from _pytest.nodeid import coerce_node_id
        item._id = coerce_node_id(nodeid)
    else:
        item._nodeid = nodeid


def assign_groups(items: list[pytest.Item], *, in_worker: bool = False) -> None:
    """Mark every grouped item with `xdist_group` and move real-stack groups to the front, longest
    first (a stable sort: the tests of a group keep their order, ungrouped tests keep theirs).

    In a worker the group also goes into the node id as `<id>@<group>`, which is what the controller
    groups by. xdist 3.8's worker does that by setting `item._nodeid`, which pytest 9.2 no longer reads
    (a node's id is `item._id` now): with it alone `--dist loadgroup` silently acts as `--dist load`
    (seen: one module's tests split over two workers)."""
    groups = {}
    for item in items:
        group = group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            if in_worker and not item.nodeid.endswith("@" + group):
                _rename(item, f"{item.nodeid}@{group}")
            groups[item.nodeid] = group

    def cost(item: pytest.Item) -> float:
        group = groups.get(item.nodeid)
        if group is None:
            return 0.0
        return REAL_STACK_MINUTES.get(group, UNLISTED_MINUTES)

    items.sort(key=lambda item: -cost(item))
