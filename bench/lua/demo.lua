-- Demo-mode walkthrough load, as AAS does it: PATCH a new desiredCapacity,
-- then GET twice (Pending -> InProgress -> Successful, each GET a write).
-- Thread t walks ids t, t+T, t+2T, ... of BENCH_IDS (10,000) dimensions
-- (T = BENCH_THREADS), so threads never share an id; each pass over the ids
-- asks for a new desiredCapacity (2, 3, 4, ...).
-- Requests go out in batches of BENCH_DEMO_BATCH (64) ids: PATCH all of the
-- batch, then GET all, then GET all again, so that the three steps of one id
-- are (practically) never in flight at the same time on different
-- connections of the thread. (wrk may call request() once before the first
-- connection, so the very first id of a thread can be skipped; harmless.)
local n = tonumber(os.getenv("BENCH_IDS") or "10000")
local prefix = os.getenv("BENCH_PREFIX") or "demo-"
local T = tonumber(os.getenv("BENCH_THREADS") or "2")
local B = tonumber(os.getenv("BENCH_DEMO_BATCH") or "64")
local base = "/v1/scalableTargetDimensions/" .. prefix
local threads = 0

function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

local step = 0
local batch = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   tid = tid or 1
   step = 0
   batch = 0
end

function request()
   local phase = math.floor(step / B)
   local w = batch * B + (step % B)
   local id = ((w * T + (tid - 1)) % n) + 1
   step = step + 1
   if step == 3 * B then
      step = 0
      batch = batch + 1
   end
   if phase == 0 then
      local body = string.format('{"desiredCapacity": %d.0}', 2 + math.floor(w * T / n))
      return wrk.format("PATCH", base .. id, headers, body)
   end
   return wrk.format("GET", base .. id)
end

-- done() prints the BENCHJSON line (shared by every bench script).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
