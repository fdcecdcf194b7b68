-- wrk script: POST /v1/decide with a different unit on every request.
--
--   RCTG_KEY=rctg_... DECIDE_EXPOSE=false DECIDE_EXPERIMENTS='"exp-0"' \
--     wrk -t2 -c64 -d10s --latency -s bench/decide.lua http://127.0.0.1:PORT/v1/decide
--
-- RCTG_KEY: a key with scope assign (or admin). DECIDE_EXPOSE: "true" or "false"
-- (default false). DECIDE_EXPERIMENTS: a JSON list's contents, e.g. '"exp-0"'; unset or
-- empty means no "experiments" field (decide every running experiment).
--
-- Each thread builds DECIDE_UNITS (default 20,000) request bodies up front (units
-- "r<DECIDE_ROUND>-t<thread>-u<n>", so that each round of the bench has new units) and
-- cycles through them, so Lua does no string work per request. Units
-- repeat once the cycle wraps, as returning users do; exposures of a unit already logged are
-- not written again (`exposures_repeated`), so a large DECIDE_UNITS (e.g. 1000000, more than
-- one run sends) measures every exposure written.

local key = os.getenv("RCTG_KEY") or error("RCTG_KEY is not set")
local expose = os.getenv("DECIDE_EXPOSE") or "false"
local experiments = os.getenv("DECIDE_EXPERIMENTS") or ""
local BODIES = tonumber(os.getenv("DECIDE_UNITS") or "20000")
local round = os.getenv("DECIDE_ROUND") or "1"

local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
   table.insert(threads, thread)
end

local requests = {}
local n = 0

function init(args)
   local tid = thread_id or 0
   local headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. key,
   }
   local extra = ""
   if experiments ~= "" then
      extra = ', "experiments": [' .. experiments .. ']'
   end
   for i = 1, BODIES do
      local body = string.format('{"unit": "r%s-t%d-u%d", "expose": %s%s}', round, tid, i, expose, extra)
      requests[i] = wrk.format("POST", nil, headers, body)
   end
end

function request()
   n = n % BODIES + 1
   return requests[n]
end
