-- wrk script for bench/: sends the requests of a plan written by bench/wrk.py.
--
--   wrk ... -s bench/plan.lua URL -- PLAN_FILE THREADS
--
-- The plan is a list of categories. A category is declared by a line
--   =<TAB>name<TAB>weight<TAB>mode[<TAB>Header: value]...
-- and followed by its requests, one a line: method<TAB>path<TAB>body (bodies hold no tab
-- and no newline: JSON or urlencoded). Each request picks a category at random by weight.
-- mode "cycle": the requests are sent over and over (each thread has them all, and starts at
-- its own place). mode "once": each request is sent once in the whole run: thread k of n
-- keeps the category's requests k, k+n, k+2n... (wrk's threads share nothing while running).
-- A thread whose "once" requests are used up sends GET /healthz instead and counts it as a
-- fallback: such a run does not measure the plan, and bench/wrk.py says so.
--
-- done() prints lines starting "@@" for bench/wrk.py: wrk's latency percentiles (after its
-- own correction for coordinated omission) and errors, the answers by status (from
-- response()), the requests sent and the fallbacks per category, and the answers that stored
-- a new ticket ('"duplicate":false') or a duplicate.

local threads = {} -- setup's own environment: every thread, read back in done()

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

-- Each thread's environment from here on.
local categories, total_weight = {}, 0
local healthz, checked
sent, fallbacks, statuses, fresh, duplicates = {}, {}, {}, 0, 0

local function split(line)
   local fields, start = {}, 1
   while true do
      local tab = line:find("\t", start, true)
      if not tab then
         table.insert(fields, line:sub(start))
         return fields
      end
      table.insert(fields, line:sub(start, tab - 1))
      start = tab + 1
   end
end

local function declare(fields)
   local category = {
      name = fields[2], weight = tonumber(fields[3]), once = fields[4] == "once",
      headers = {}, requests = {}, seen = 0, next = 1,
   }
   for i = 5, #fields do
      local name, value = fields[i]:match("^([^:]+): (.*)$")
      category.headers[name] = value
   end
   table.insert(categories, category)
   total_weight = total_weight + category.weight
   sent[category.name], fallbacks[category.name] = 0, 0
   return category
end

local function add(category, fields, thread_count)
   local index = category.seen -- from 0, among the category's requests
   category.seen = index + 1
   if category.once and index % thread_count ~= id then
      return -- another thread's
   end
   local headers = { Host = wrk.headers["Host"] }
   for name, value in pairs(category.headers) do
      headers[name] = value
   end
   local body = fields[3] ~= "" and fields[3] or nil
   table.insert(category.requests, wrk.format(fields[1], fields[2], headers, body))
end

function init(args)
   local path, thread_count = args[1], tonumber(args[2])
   local category
   for line in io.lines(path) do
      local fields = split(line)
      if fields[1] == "=" then
         category = declare(fields)
      else
         add(category, fields, thread_count)
      end
   end
   for _, c in ipairs(categories) do
      if not c.once and #c.requests > 0 then
         c.next = id % #c.requests + 1
      end
   end
   math.randomseed(2026 + id)
   healthz = wrk.format("GET", "/healthz", { Host = wrk.headers["Host"] })
   checked = id ~= 0
end

local function pick()
   if #categories == 1 then
      return categories[1]
   end
   local draw = math.random() * total_weight
   for _, category in ipairs(categories) do
      draw = draw - category.weight
      if draw < 0 then
         return category
      end
   end
   return categories[#categories]
end

function request()
   if not checked then
      -- wrk calls request() once on thread 0 before the run, only to check that it parses:
      -- nothing is sent, so nothing is taken from a list.
      checked = true
      return healthz
   end
   local category = pick()
   if category.next > #category.requests then
      if category.once or #category.requests == 0 then
         fallbacks[category.name] = fallbacks[category.name] + 1
         return healthz
      end
      category.next = 1
   end
   local chosen = category.requests[category.next]
   category.next = category.next + 1
   sent[category.name] = sent[category.name] + 1
   return chosen
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if body:find('"duplicate":false', 1, true) then
      fresh = fresh + 1
   elseif body:find('"duplicate":true', 1, true) then
      duplicates = duplicates + 1
   end
end

local function emit(...)
   local parts = { "@@" }
   for _, value in ipairs({ ... }) do
      table.insert(parts, type(value) == "number" and string.format("%.0f", value) or value)
   end
   print(table.concat(parts, " "))
end

local function sum_into(totals, counts)
   for key, count in pairs(counts) do
      totals[key] = (totals[key] or 0) + count
   end
end

function done(summary, latency, requests)
   emit("duration_us", summary.duration)
   emit("requests", summary.requests)
   for kind, count in pairs(summary.errors) do
      emit("socket", kind, count)
   end
   for _, p in ipairs({ 50, 90, 99, 99.9 }) do
      emit("latency_us", tostring(p), latency:percentile(p))
   end
   emit("latency_us", "max", latency.max)
   local all_statuses, all_sent, all_fallbacks, all_fresh, all_duplicates = {}, {}, {}, 0, 0
   for _, thread in ipairs(threads) do
      sum_into(all_statuses, thread:get("statuses"))
      sum_into(all_sent, thread:get("sent"))
      sum_into(all_fallbacks, thread:get("fallbacks"))
      all_fresh = all_fresh + thread:get("fresh")
      all_duplicates = all_duplicates + thread:get("duplicates")
   end
   for status, count in pairs(all_statuses) do
      emit("status", status, count)
   end
   for name, count in pairs(all_sent) do
      emit("sent", name, count)
   end
   for name, count in pairs(all_fallbacks) do
      emit("fallback", name, count)
   end
   emit("fresh", all_fresh)
   emit("duplicates", all_duplicates)
end
