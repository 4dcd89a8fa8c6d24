-- wrk script: usage-event batches (100 events each) through /rest/v1/rpc/log_usage_events, as a
-- client tracker flushes them, by many users. Tokens from the file named by EVENTS_TOKENS
-- ("token <jwt>" lines). Prints the accepted batches and the refusals at the end.
local tokens = {}
for line in io.lines(os.getenv("EVENTS_TOKENS")) do
  local jwt = line:match("^token%s+(%S+)")
  if jwt then tokens[#tokens + 1] = jwt end
end
local events = {}
for i = 1, 100 do
  events[i] = string.format('{"event":"feed.view","props":{"tab":"home","position":%d},"session_id":"bench"}', i)
end
local body = '{"p_events":[' .. table.concat(events, ",") .. ']}'

local threads = {}
function setup(thread) threads[#threads + 1] = thread end
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  accepted, refused = 0, 0
end
function request()
  local token = tokens[math.random(#tokens)]
  return wrk.format("POST", "/rest/v1/rpc/log_usage_events",
    {["apikey"] = token, ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json", ["Prefer"] = "return=minimal"}, body)
end
function response(status, headers, body)
  if status == 200 then accepted = accepted + 1 else refused = refused + 1 end
end
function done(summary, latency, requests)
  local a, r = 0, 0
  for _, thread in ipairs(threads) do a = a + thread:get("accepted"); r = r + thread:get("refused") end
  io.write(string.format("EVENTS batches=%d refused=%d\n", a, r))
end
