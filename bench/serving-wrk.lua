-- wrk script of the serving benchmark (bench/serving-trial.ts runs it):
--
--   SERVING_REQUESTS=<file> wrk -t1 -cC -dDs --timeout Ts -s bench/serving-wrk.lua http://127.0.0.1:PORT
--
-- Reads the POST requests bench/serving-payloads.ts wrote at load, and formats every distinct
-- one once in init() (wrk sets the Host header between the two), so the per-request work in
-- wrk is handing back a prepared string. With one distinct request and no cold share the
-- script defines no request() at all, and wrk sends its static request without calling Lua.
-- done() prints one line, `SERVING_WRK {json}`.

local file = assert(os.getenv("SERVING_REQUESTS"), "SERVING_REQUESTS must name the request file")
local f = assert(io.open(file, "rb"))

local function field(line, key)
  local value = line and line:match("^" .. key .. " (.*)$")
  assert(value, "malformed request file: expected '" .. key .. " ...', got " .. tostring(line))
  return value
end

local path = field(f:read("*l"), "path")
local count = tonumber(field(f:read("*l"), "bodies"))

local function headers_for(header_length)
  if header_length == 0 then return { ["Content-Type"] = "application/json" } end
  return {
    ["Content-Type"] = "application/octet-stream",
    ["Inference-Header-Content-Length"] = tostring(header_length),
  }
end

local bodies = {}
for k = 1, count do
  local header_length, body_length = f:read("*l"):match("^(%d+) (%d+)$")
  header_length, body_length = tonumber(header_length), tonumber(body_length)
  bodies[k] = { headers = headers_for(header_length), body = f:read(body_length) }
end

local order_indices = {}
for idx in field(f:read("*l"), "order"):gmatch("%d+") do order_indices[#order_indices + 1] = tonumber(idx) + 1 end
table.remove(order_indices, 1) -- the first number is the count

local cold_share, cold_first, cold_span, cold_prefix, cold_suffix = 0, 0, 1, nil, nil
local cold_line = f:read("*l")
if cold_line then
  local share, first, span, prefix_length, suffix_length = field(cold_line, "cold"):match("^(%S+) (%d+) (%d+) (%d+) (%d+)$")
  cold_share, cold_first, cold_span = tonumber(share), tonumber(first), tonumber(span)
  cold_prefix = f:read(tonumber(prefix_length))
  cold_suffix = f:read(tonumber(suffix_length))
end
-- Popular items: every request is the cold template carrying the next id of this list.
local zipf = nil
local zipf_line = f:read("*l")
if zipf_line then
  zipf = {}
  for id in field(zipf_line, "zipf"):gmatch("%d+") do zipf[#zipf + 1] = tonumber(id) end
  table.remove(zipf, 1) -- the first number is the count
end
f:close()

-- The warm-up and the timed run are two wrk processes: the timed one starts its cold values
-- elsewhere, so that none repeats a value of the warm-up (which the cache would hold).
local cold_offset = tonumber(os.getenv("SERVING_COLD_OFFSET") or "0")
local cold_headers = headers_for(0)
local order = {}
local next_index = 0
-- Global, so that done(), which runs in the main thread's Lua state, can read it with thread:get().
cold_counter = 0

-- Formatted requests of the most popular ids, kept: they are most of the requests.
local ZIPF_KEEP_BELOW = 65536
local zipf_formatted = {}
local zipf_index = 0

if count == 1 and cold_share == 0 and not zipf then
  wrk.method, wrk.path, wrk.body = "POST", path, bodies[1].body
  for name, value in pairs(bodies[1].headers) do wrk.headers[name] = value end
else
  function init(args)
    math.randomseed(42)
    local prepared = {}
    for k, b in ipairs(bodies) do prepared[k] = wrk.format("POST", path, b.headers, b.body) end
    for k, idx in ipairs(order_indices) do order[k] = prepared[idx] end
  end

  function request()
    if zipf then
      zipf_index = (cold_offset + cold_counter) % #zipf + 1
      cold_counter = cold_counter + 1
      local id = zipf[zipf_index]
      local r = zipf_formatted[id]
      if r == nil then
        r = wrk.format("POST", path, cold_headers, cold_prefix .. (cold_first + id) .. cold_suffix)
        if id < ZIPF_KEEP_BELOW then zipf_formatted[id] = r end
      end
      return r
    end
    if cold_share > 0 and math.random() < cold_share then
      local value = cold_first + (cold_offset + cold_counter) % cold_span
      cold_counter = cold_counter + 1
      return wrk.format("POST", path, cold_headers, cold_prefix .. value .. cold_suffix)
    end
    next_index = next_index % #order + 1
    return order[next_index]
  end
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local cold = 0
  for _, thread in ipairs(threads) do cold = cold + thread:get("cold_counter") end
  local e = summary.errors
  local p = function(q) return latency:percentile(q) end
  io.write(string.format(
    'SERVING_WRK {"requests":%d,"bytes":%d,"durationUs":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d,"mean":%.1f,"min":%d,"max":%d},' ..
    '"cpuS":%.3f,"coldRequests":%d}\n',
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    p(50), p(90), p(95), p(99), p(99.9), latency.mean, latency.min, latency.max,
    os.clock(), cold))
end
