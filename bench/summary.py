#!/usr/bin/env python3
"""Median and spread of several whole bench runs.

    python3 bench/summary.py target/bench/results-*.json

Each argument is one run's JSON (bench/run.sh keeps a copy of every run as
target/bench/results-<time>.json). For every row measured in all runs: the
median req/s and p99 with their range (min-max), and the share of nginx; for
every target: the median run's value and in how many runs it was met.
"""
import json
import statistics
import sys


def key(r):
    return (r["group"], r["name"], r["conns"])


def spread(values, f="{:.0f}"):
    values = sorted(values)
    med = statistics.median(values)
    if len(values) == 1:
        return f.format(med)
    return f"{f.format(med)} ({f.format(values[0])}-{f.format(values[-1])})"


def main(paths):
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(json.load(f))
    if not runs:
        raise SystemExit("usage: summary.py RESULTS.json...")
    revs = sorted({r["meta"].get("git_rev", "")[:12] for r in runs})
    print(f"{len(runs)} runs: {', '.join(r['meta']['date'] for r in runs)}; crest {', '.join(revs)}")
    print("median (min-max) of the runs\n")
    hdr = f"{'group':<6} {'case':<30} {'conn':>4} {'req/s':>24} {'p99 ms':>22} {'vs nginx':>16}"
    print(hdr)
    print("-" * len(hdr))
    first = [r for r in runs[0]["rows"] if not r.get("failed") and "rps" in r]
    for row in first:
        same = [next((x for x in run["rows"] if key(x) == key(row) and "rps" in x), None) for run in runs]
        if any(x is None for x in same):
            continue
        rps = spread([x["rps"] for x in same])
        p99 = spread([x["p99_ms"] for x in same], "{:.2f}")
        vs = ""
        if all(x.get("vs_nginx") is not None for x in same):
            vs = spread([x["vs_nginx"] * 100 for x in same], "{:.0f}") + "%"
        print(f"{row['group']:<6} {row['name']:<30} {row['conns']:>4} {rps:>24} {p99:>22} {vs:>16}")
    rss = {}
    for run in runs:
        for name, v in run.get("rss_mb", {}).items():
            if v.get("after_mb") is not None:
                rss.setdefault(name, []).append(v["after_mb"])
    if rss:
        worst = max(rss, key=lambda n: statistics.median(rss[n]))
        print(f"\nlargest RSS after the runs: {worst} {spread(rss[worst], '{:.1f}')} MB")
    print("\nTargets (met in how many runs; the value of each run):")
    names = [t["target"] for t in runs[0]["targets"]]
    for name in names:
        ts = [next((t for t in run["targets"] if t["target"] == name), None) for run in runs]
        met = sum(1 for t in ts if t and t["met"])
        values = " | ".join(t["value"] if t else "-" for t in ts)
        verdict = "met" if met == len(runs) else ("MISSED" if met == 0 else "mixed")
        print(f"  [{verdict:>6} {met}/{len(runs)}] {name}: {values}")


if __name__ == "__main__":
    main(sys.argv[1:])
