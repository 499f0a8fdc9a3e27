-- Durable PATCH: every request sends a desiredCapacity no other request in
-- this run sends (per-thread counter, thread number in the fraction), so
-- each PATCH changes the stored value and must be written to disk.
-- Ids rotate over BENCH_IDS seeded ids, each thread from its own offset.
local n = tonumber(os.getenv("BENCH_IDS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local base = "/v1/scalableTargetDimensions/" .. prefix
local threads = 0

function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   counter = 0
   tid = tid or 1
end

function request()
   counter = counter + 1
   local id = ((counter * 7 + tid * 499) % n) + 1
   -- 2 + counter + tid/10: unique per (thread, counter); thread count < 10
   local body = string.format('{"desiredCapacity": %d.%d}', counter + 2, tid % 10)
   return wrk.format("PATCH", base .. id, headers, body)
end

-- done() prints the BENCHJSON line (shared by every bench script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
