-- wrk script: a mix of feed reads (and optionally writes) by many users, counting Cache-Status.
-- Reads its inputs from the file named by the MIX_DATA environment variable (written by bench-cache):
-- lines "token <jwt>", "profile <uuid>", "entity <uuid>", "post <uuid>", "weights <home> <profile> <entity> <nearby> <post> <like>".
local tokens, profiles, entities, posts = {}, {}, {}, {}
local weights = {60, 15, 10, 5, 0, 0}
for line in io.lines(os.getenv("MIX_DATA")) do
  local kind, rest = line:match("^(%S+)%s+(.*)$")
  if kind == "token" then tokens[#tokens + 1] = rest
  elseif kind == "profile" then profiles[#profiles + 1] = rest
  elseif kind == "entity" then entities[#entities + 1] = rest
  elseif kind == "post" then posts[#posts + 1] = rest
  elseif kind == "weights" then
    weights = {}
    for w in rest:gmatch("%S+") do weights[#weights + 1] = tonumber(w) end
  end
end
-- MIX_ACTIVE_USERS: only that many of the users make requests (fewer users, more repeat visits).
local active = tonumber(os.getenv("MIX_ACTIVE_USERS") or "")
if active and active < #tokens then
  for i = #tokens, active + 1, -1 do tokens[i] = nil end
end
local total = 0
for _, w in ipairs(weights) do total = total + w end
local cities = {{48.8566, 2.3522}, {40.7128, -74.0060}, {51.5074, -0.1278}, {35.6762, 139.6503}}

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  hits, misses, collapsed, stale, other, writes, errors, server_errors = 0, 0, 0, 0, 0, 0, 0, 0
  statuses = ""
end

local function pick(list) return list[math.random(#list)] end

function request()
  local headers = {["apikey"] = tokens[1], ["Authorization"] = "Bearer " .. pick(tokens), ["Content-Type"] = "application/json"}
  local roll, op = math.random() * total, 1
  for i, w in ipairs(weights) do
    if roll < w then op = i break end
    roll = roll - w
  end
  if op == 1 then return wrk.format("GET", "/rest/v1/rpc/feed_fusion_home?p_limit=20", headers) end
  if op == 2 then return wrk.format("GET", "/rest/v1/rpc/feed_fusion_profile?p_limit=20&p_profile_id=" .. pick(profiles), headers) end
  if op == 3 then return wrk.format("GET", "/rest/v1/rpc/feed_fusion_entity?p_limit=20&p_entity_id=" .. pick(entities), headers) end
  if op == 4 then
    local c = pick(cities)
    return wrk.format("GET", string.format("/rest/v1/rpc/feed_fusion_nearby?p_lat=%.4f&p_lng=%.4f&p_radius_m=5000", c[1], c[2]), headers)
  end
  if op == 5 then return wrk.format("POST", "/rest/v1/rpc/create_post", headers, '{"p_body":"benchmark post"}') end
  return wrk.format("POST", "/rest/v1/rpc/like_post", headers, '{"p_post_id":"' .. pick(posts) .. '"}')
end

function response(status, headers, body)
  local cache = headers["Cache-Status"] or headers["cache-status"]
  if status >= 500 then server_errors = server_errors + 1 end
  if status >= 500 or (status >= 400 and status ~= 429 and status ~= 409) then
    errors = errors + 1
    -- Remember the first few refusals' status and body, to say what they were.
    if #statuses < 600 then statuses = statuses .. status .. " " .. string.sub(body, 1, 120) .. "\n" end
  end
  if cache == nil then writes = writes + 1
  elseif cache:find("; hit") then hits = hits + 1
  elseif cache:find("collapsed") then collapsed = collapsed + 1
  elseif cache:find("stale") then stale = stale + 1
  elseif cache:find("fwd=miss") then misses = misses + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local t = {hits = 0, misses = 0, collapsed = 0, stale = 0, other = 0, writes = 0, errors = 0, server_errors = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
    io.stderr:write(thread:get("statuses"))
  end
  io.write(string.format("MIX hits=%d misses=%d collapsed=%d stale=%d other=%d writes=%d errors=%d server_errors=%d\n",
    t.hits, t.misses, t.collapsed, t.stale, t.other, t.writes, t.errors, t.server_errors))
end
