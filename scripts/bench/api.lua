-- wrk script for `make bench-api`: each request picks a seeded user (and their meeting), so the
-- load spreads over many accounts as it would in production.
-- Environment: BENCH_SEED (file of "token meeting_id" lines), BENCH_KIND (login|list|join).

local kind = os.getenv("BENCH_KIND")
local users = {}
for line in io.lines(os.getenv("BENCH_SEED")) do
  local token, meeting, login = line:match("^(%S+) (%S+) (%S+)$")
  users[#users + 1] = { token = token, meeting = meeting, login = login }
end
local password = os.getenv("BENCH_PASSWORD")
local counter = 0

function request()
  counter = counter + 1
  local user = users[(counter % #users) + 1]
  if kind == "login" then
    local body = '{"login":"' .. user.login .. '","password":"' .. password .. '"}'
    return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
  end
  local headers = { ["Authorization"] = "Bearer " .. user.token }
  if kind == "join" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/meetings/" .. user.meeting .. "/join", headers, "{}")
  end
  return wrk.format("GET", "/api/v1/meetings?page_size=20", headers)
end

function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_status": %d, "errors_timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.status, summary.errors.timeout))
end
