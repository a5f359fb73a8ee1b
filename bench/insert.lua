-- wrk script: single-row INSERTs through Airsequel's SQL endpoint.
-- The token and database come from the environment (set by bench/run.py).
local token = os.getenv("ATRIUM_BENCH_TOKEN")
local db = os.getenv("ATRIUM_BENCH_DB")
local counter = 0
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = string.format('{"query":"INSERT INTO events(kind, n) VALUES (\'bench\', %d)"}', counter)
  return wrk.format(nil, "/dbs/" .. db .. "/sql", nil, body)
end
