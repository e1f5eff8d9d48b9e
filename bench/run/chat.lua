-- wrk script: POST one OpenAI chat completion per request and check every answer.
-- usage: wrk -s chat.lua <base-url>/v1/chat/completions -- <key|-> <model> <stream: true|false>
-- An answer counts as bad unless its status is 200 and its body is whole: a
-- JSON completion with "usage", or a stream that ends with data: [DONE].
-- done() prints one line "WRK_RESULT {json}" with the totals and latencies
-- (microseconds) that bench/run reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local key, model, stream = args[1] or "-", args[2] or "bench-model", args[3] == "true"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if key ~= "-" then
    wrk.headers["Authorization"] = "Bearer " .. key
  end
  local body = '{"model":"' .. model .. '","messages":[' ..
    '{"role":"system","content":"You are a helpful assistant."},' ..
    '{"role":"user","content":"Write one short sentence about load testing."}],"max_tokens":16'
  if stream then
    body = body .. ',"stream":true,"stream_options":{"include_usage":true}'
    want = "data: [DONE]"
  else
    want = '"usage"'
  end
  wrk.body = body .. "}"
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, want, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do
    b = b + (t:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"bad_answers":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%d}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout, b,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, math.floor(latency.mean)))
end
