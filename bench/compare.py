"""PostgreSQL against SQLite: two result files of one bench (dialer.json or web.json, one per engine),
row by row, with the ratio PostgreSQL / SQLite of the medians. Prints a Markdown table.

    bench/compare.py runs/bench-dialer-A/dialer.json runs/bench-dialer-B/dialer.json

Why a separate script: each engine's run takes minutes under the stack lock and is run on its own
(`--postgres` or not); the comparison only reads what they wrote.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(path: str) -> dict:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: not a bench result file ({exc})") from None
    if "engine" not in report or "rows" not in report:
        raise SystemExit(f"{path}: no engine/rows in it; give the dialer.json or web.json a bench wrote")
    return report


def cell(row: dict | None) -> str:
    if row is None:
        return "–"
    if not row.get("ok", True):
        return "failed"
    spread = row.get("p95_ms", row.get("max_ms"))
    return f"{row['median_ms']:.1f} ({spread:.0f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs=2, help="the two result files (either order)")
    args = ap.parse_args(argv)
    reports = {r["engine"]: r for r in map(load, args.results)}
    if set(reports) != {"sqlite", "postgresql"}:
        raise SystemExit("give one SQLite and one PostgreSQL result of the same bench")
    lite, pg = reports["sqlite"], reports["postgresql"]
    if lite.get("bench") != pg.get("bench"):
        raise SystemExit(f"different benches: {lite.get('bench')} and {pg.get('bench')}")
    spread = "p95" if lite["bench"] == "web" else "max"
    print(f"| {lite['bench']} | SQLite median ({spread}) ms | PostgreSQL median ({spread}) ms | PG / SQLite |")
    print("| --- | --- | --- | --- |")
    by_name = {r["name"]: r for r in pg["rows"]}
    for row in lite["rows"]:
        other = by_name.get(row["name"])
        ok = other is not None and row.get("ok", True) and other.get("ok", True)
        ratio = f"{other['median_ms'] / row['median_ms']:.1f}×" if ok and row["median_ms"] else "–"
        print(f"| {row['name']} | {cell(row)} | {cell(other)} | {ratio} |")
    seeds = [(name, r.get("seed_total_s", sum(r.get("seed_s", {}).values()))) for name, r in
             (("SQLite", lite), ("PostgreSQL", pg))]
    print("\nseeding: " + ", ".join(f"{name} {s:.0f} s" for name, s in seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
