-- wrk script: POSTs signed workflow_run deliveries, a different one per request.
--
--   wrk -t2 -c32 -d20s --latency -s deliveries.lua http://127.0.0.1:PORT/webhooks -- PREFIX
--
-- Thread i (1-based) reads PREFIX.i, written by gen_payloads.py: one delivery a line,
-- `GUID<TAB>sha256=HEX<TAB>BODY`. Each request takes the thread's next line, so no
-- two requests share a delivery GUID or a workflow_run.id. If a thread runs out it
-- starts over; the server then answers 200 "duplicate", which is counted apart from
-- 202 "accepted" below (and the run is then too long for the payload files).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local lines = {}
local n, i = 0, 0
s2xx, s202, s200, other = 0, 0, 0, 0
wrapped = 0

function init(args)
  local prefix = args[1] or error("pass the payload file prefix after --")
  local path = prefix .. "." .. tid
  local f = io.open(path, "rb") or error("cannot open " .. path)
  for line in f:lines() do
    local guid, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    if guid then
      n = n + 1
      lines[n] = { guid, sig, body }
    end
  end
  f:close()
  if n == 0 then error("no deliveries in " .. path) end
end

function request()
  i = i + 1
  if i > n then i = 1; wrapped = wrapped + 1 end
  local d = lines[i]
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = "workflow_run",
    ["X-GitHub-Delivery"] = d[1],
    ["X-Hub-Signature-256"] = d[2],
  }, d[3])
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
