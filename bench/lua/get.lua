-- GET /v1/scalableTargetDimensions/{id}, id picked at random among
-- BENCH_IDS seeded ids named BENCH_PREFIX1 .. BENCH_PREFIX<BENCH_IDS>.
-- For nginx the path does not matter (it answers a fixed body).
local n = tonumber(os.getenv("BENCH_IDS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local base = "/v1/scalableTargetDimensions/" .. prefix
local seed = tonumber(os.getenv("BENCH_SEED") or "1")
local threads = 0

function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

function init(args)
   math.randomseed(seed * 7919 + (tid or 0) * 104729)
end

function request()
   return wrk.format("GET", base .. math.random(1, n))
end

-- done() prints the BENCHJSON line (shared by every bench script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
