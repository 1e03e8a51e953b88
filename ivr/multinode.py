"""Several telephony nodes on one box sharing one database: `ivr demo --nodes N` and the tests.

A node is one managed Asterisk with its own dialog server (and Vosk), on a port block of its own and
under an instance name of its own, driven by one dialer controller that registers it in the `nodes`
table and stamps its attempts (`Settings.node_name`). What the nodes share is what separate boxes
would share: the database (the same `db_path` / `database_url` handed to every process, so
PostgreSQL is just another URL here) and the carrier trunk. In the demo and the tests that trunk is
the borrower simulator, started once, by node 1's stack: every node's Asterisk dials it (its
`trunk_port`), so a borrower's phone answers whichever node calls. Agent phones are per node: each
node's Asterisk has the same agent endpoints (they live in the shared database, provisioned once by
node 1's stack) and its own agent phones registering to it with those credentials.

One controller per node, all in one process here (the demo's calling-hours shift is passed
in-process only, as for one node); they coordinate only through the database, as controllers on
separate boxes do. Each node's capacity (the controller's `max_channels`) is its share of the
campaign's concurrency, so every node takes part.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

from .config import Settings
from .stack import Stack

log = logging.getLogger(__name__)

PORT_STEP = 3000     # one node's ports: listeners, Asterisk RTP, phone RTP (port_base + 0..2999)
MAX_NODES = 8
# settings that would give every node the same port if set explicitly
PER_NODE_PORTS = ("ami_port", "web_port", "dialer_metrics_port", "dialog_metrics_port")


class NodesError(ValueError):
    pass


def spread(first: Settings, count: int, port_step: int = PORT_STEP) -> list[Settings]:
    """`count` nodes derived from one settings: node k on port_base + (k-1) * port_step, instance
    and node name `<instance>-n<k>`; all sharing node 1's database and trunk (see `joined`)."""
    if not 1 <= count <= MAX_NODES:
        raise NodesError(f"--nodes: between 1 and {MAX_NODES}, not {count}")
    if count > 1:
        if first.asterisk_mode != "managed":
            raise NodesError("--nodes needs managed Asterisk instances (asterisk_mode = \"managed\"): "
                             "one external Asterisk cannot be several nodes")
        fixed = [name for name in PER_NODE_PORTS if getattr(first, name)]
        if fixed:
            raise NodesError(f"--nodes derives every node's ports from port_base; unset {', '.join(fixed)}")
        if first.port_base + count * port_step > 65535:
            raise NodesError(f"port_base {first.port_base} leaves no room for {count} nodes of {port_step} ports")
    return joined([first.replace(instance=f"{first.instance}-n{k}", node_name="",
                                 port_base=first.port_base + (k - 1) * port_step) for k in range(1, count + 1)])


def joined(each: list[Settings]) -> list[Settings]:
    """Nodes as one deployment: node 1's database and trunk for every node; each named after its
    instance unless it has a `node_name`. Refuses two nodes on one instance or one port block."""
    first = each[0]
    out = [s.replace(db_path=first.db_path or str(first.database), database_url=first.database_url,
                     trunk_port=first.trunk_port_effective, node_name=s.node_name or s.instance) for s in each]
    for name, values in (("instance", [s.instance for s in out]), ("node name", [s.node for s in out]),
                         ("port_base", [s.port_base for s in out])):
        if len(set(values)) != len(values):
            raise NodesError(f"two nodes share one {name}: {values}")
    return out


class NodeStacks:
    """Every node's Stack, started in order and stopped in reverse: node 1 with the borrower phones
    and the agents' provisioning, the others with their own Asterisk, dialog server and agent phones.
    `out/<node>/` holds each node's logs; `calls_log` is the borrower phones' log (all nodes)."""

    def __init__(self, nodes: list[Settings], out_dir: Path, personas_path: Path, **stack_options):
        self.nodes = nodes
        self.out = Path(out_dir)
        first = Stack(nodes[0], self.out / nodes[0].node, personas_path, **stack_options)
        self.stacks = [first] + [
            Stack(s, self.out / s.node, personas_path, borrowers=False,
                  agent_accounts_from=first.agent_accounts if first.agents else None, **stack_options)
            for s in nodes[1:]]
        self.calls_log = first.calls_log

    def start(self) -> "NodeStacks":
        try:
            for stack in self.stacks:
                stack.start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for stack in reversed(self.stacks):
            stack.stop()

    def __enter__(self) -> "NodeStacks":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def node_capacity(concurrency: int, count: int) -> int:
    """Each node's share of a campaign's concurrency (at least one call)."""
    return max(1, -(-concurrency // count))


async def run_controllers(nodes: list[Settings], *, policy_shift: dt.timedelta, max_channels: int = 30,
                          tick_s: float = 0.2, ops=None, controllers: list | None = None) -> list:
    """One controller per node, each on its own database connection, until no campaign runs and
    none has a call in flight. `ops`: the dialer's /healthz endpoint, told every node's checks.
    `controllers`: a list the new controllers are appended to as soon as they exist (a test that
    watches them while they run)."""
    from . import health
    from .dialer.controller import Controller
    started = [Controller(s, tick_s=tick_s, max_channels=max_channels, policy_shift=policy_shift,
                          lender=s.lender_name) for s in nodes]
    if controllers is not None:
        controllers.extend(started)
    if ops is not None:
        for s, ctl in zip(nodes, started):
            checks = health.dialer_checks(s, ctl)
            ops.checks.update(checks if len(nodes) == 1 else {f"{k}:{s.node}": v for k, v in checks.items()})
    try:
        await asyncio.gather(*(ctl.run(until_idle=True) for ctl in started))
    finally:
        for ctl in started:
            if ctl.db is not None:
                ctl.db.close()
    return started
