"""The GET rows of the file and SQLite store phases of bench/run.sh, in the
order given, c=16 only: nginx's ceiling, the hyper floor, then each store
as `store_phase` runs it (seeded the same way, GETs in turns with nginx,
then its PATCH row). For the question whether the file store's GET row is
lower because of where it stands in the run (bench/README.md, "Tenth
round").

    CREST_BIN=target/release/crest python3 bench/store_order.py [sqlite,file]

The order defaults to `sqlite,file` (run.sh's is `file,sqlite`). Uses
bench.py's helpers and environment (BENCH_DURATION, BENCH_REPEAT, FLOOR_BIN,
...); prints each GET row: req/s, share of nginx, its runs and nginx's.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402


def main():
    order = (sys.argv[1] if len(sys.argv) > 1 else "sqlite,file").split(",")
    b.CONNS = [16]
    try:
        b.make_cert()
        ceil = b.Ceiling(b.Nginx())
        b.floor_phase(ceil)
        for store in order:
            if store == "sqlite":
                sq = os.path.join(b.WORK, "sqlite-1k", "crest.db")
                os.makedirs(os.path.dirname(sq))
                b.store_phase("sqlite", f"sqlite:{sq}", ceil,
                              seed_before=lambda: b.seed_sqlite(sq, b.SEED_IDS, "bench-"))
            elif store == "file":
                fdir = os.path.join(b.WORK, "file-store")
                b.store_phase("file", f"file:{fdir}", ceil,
                              seed_after=lambda c: b.seed_file_via_http(c, b.SEED_IDS, "bench-"))
            else:
                raise SystemExit(f"unknown store {store!r}: the order is a list of sqlite and file")
        for r in b.ROWS:
            if r["group"] == "GET" and not r.get("failed"):
                share = f"{r['vs_nginx']:.1%}" if r.get("vs_nginx") is not None else "-"
                b.log(f"{r['name']}: {r['rps']:.0f}/s, {share} of nginx, runs "
                      f"{[x['rps'] for x in r.get('runs', [])]}, nginx {[x['rps'] for x in r.get('nginx_runs', [])]}")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
