-- wrk script: POSTs signed workflow_run deliveries, a different one per request.
--
--   wrk -t2 -c32 -d20s --latency -s deliveries.lua http://127.0.0.1:PORT/webhooks -- PREFIX
--
-- Thread i (1-based) reads PREFIX.i, written by `gen_payloads.py --http`: one delivery
-- a record, its length as 9 digits and a newline, then the whole HTTP request. Each
-- request is the thread's next record, sent as it is, so no two requests share a
-- delivery GUID or a workflow_run.id, and wrk spends its CPU on sending, not on building
-- 17 kB strings. If a thread runs out it starts over (counted as `wrapped`); Fixpoint
-- then answers 200 "duplicate", which is counted apart from 202 "accepted" below, and
-- the payload files were too short.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local file
s202, s200, other = 0, 0, 0
wrapped = 0

-- Records are read as they are sent (the file sits in the page cache), so a run of
-- hundreds of thousands of 17 kB deliveries does not have to fit in wrk's Lua heap.
local function next_request()
  for _ = 1, 2 do
    local len = file:read(10)
    if len then
      return file:read(tonumber(len)) or error("truncated payload file")
    end
    file:seek("set", 0)
    wrapped = wrapped + 1
  end
  error("empty payload file")
end

function init(args)
  local prefix = args[1] or error("pass the payload file prefix after --")
  local path = prefix .. "." .. tid
  file = io.open(path, "rb") or error("cannot open " .. path)
end

function request()
  return next_request()
end

function response(status, headers, body)
  if status == 202 then s202 = s202 + 1
  elseif status == 200 then s200 = s200 + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local a, d, o, w = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s202"); d = d + t:get("s200"); o = o + t:get("other"); w = w + t:get("wrapped")
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
      .. "status_202=%d status_200=%d status_other=%d socket_errors=%d wrapped=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, a, d, o,
    e.connect + e.read + e.write + e.timeout, w))
end
