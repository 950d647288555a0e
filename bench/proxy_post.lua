-- wrk script for bench/proxy_bench.py: POST one chat completion per request.
--
-- Environment: PROXY_BENCH_MODEL (default gpt-4o-mini), PROXY_BENCH_STREAM=1 for
-- "stream": true, PROXY_BENCH_KEY for an "Authorization: Bearer" header,
-- PROXY_BENCH_HEADERS for more headers ("Name: value" lines, e.g. Portkey's routing headers).
-- At the end prints one line "PROXY_BENCH_JSON {...}" with counts and latency
-- percentiles (microseconds) for the Python side to parse.

local model = os.getenv("PROXY_BENCH_MODEL") or "gpt-4o-mini"
local stream = os.getenv("PROXY_BENCH_STREAM") == "1"
local key = os.getenv("PROXY_BENCH_KEY") or ""

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
for line in (os.getenv("PROXY_BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then
    wrk.headers[name] = value
  end
end
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":'
  .. '"Hello, how are you today?"}]' .. (stream and ',"stream":true' or '') .. '}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PROXY_BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,'
    .. '"timeout_errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,'
    .. '"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
