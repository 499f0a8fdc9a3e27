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

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
