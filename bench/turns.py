"""nginx, crest's cached GET (SQLite, 1,000 dimensions) and crest's GET over
1,000,000 SQLite dimensions, measured in turns (one 10 s wrk run of each per
round, c=16, pinned as bench/run.sh pins), so that a drift of the machine's
speed over minutes hits all three alike. Prints each round and the medians:
the cached GET as a share of nginx, the 1M GET as a share of the cached one
(the ratios of two of issue 20's goals, without the minutes that lie
between those rows in bench/run.sh).

    CREST_BIN=target/release/crest python3 bench/turns.py [ROUNDS]

Uses bench.py's helpers (nginx, crest, seeding, wrk) and its environment
(BENCH_DURATION, BENCH_PIN, ...).
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    try:
        b.make_cert()
        ngx = b.Nginx()
        small = os.path.join(b.WORK, "sqlite-1k", "crest.db")
        big = os.path.join(b.WORK, "sqlite-1m", "crest.db")
        for path, n in ((small, b.SEED_IDS), (big, b.SCALE_IDS)):
            os.makedirs(os.path.dirname(path))
            b.seed_sqlite(path, n, "bench-")
        os.sync()  # the seeds' writes on disk before anything is measured
        cached = b.Crest("sqlite", f"sqlite:{small}")
        b.check_api(cached)
        spread = b.Crest("sqlite-1m", f"sqlite:{big}")
        b.check_api(spread)
        runs = {"nginx": [], "cached": [], "1M": []}
        for i in range(rounds):
            for name, url, ids in (("nginx", ngx.url(), None), ("cached", cached.url(), b.SEED_IDS),
                                   ("1M", spread.url(), b.SCALE_IDS)):
                res = b.wrk_once(url, "get.lua", 16, {"BENCH_IDS": str(ids)} if ids else None)
                runs[name].append(res["rps"] if res else float("nan"))
            n, c, m = (runs[k][-1] for k in ("nginx", "cached", "1M"))
            b.log(f"round {i + 1}: nginx {n:.0f}/s, cached {c:.0f}/s ({c / n:.0%} of nginx),"
                  f" 1M {m:.0f}/s ({m / c:.0%} of cached)")
        md = {k: statistics.median(v) for k, v in runs.items()}
        b.log(f"medians: nginx {md['nginx']:.0f}/s, cached {md['cached']:.0f}/s, 1M {md['1M']:.0f}/s;"
              f" cached/nginx {md['cached'] / md['nginx']:.1%}, 1M/cached {md['1M'] / md['cached']:.1%}")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
