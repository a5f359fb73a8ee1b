-- wrk script: durable reducer calls, POST /v1/database/b/call/add with a
-- positional argument. The token comes from the environment (bench/stdb.py).
local token = os.getenv("ATRIUM_BENCH_TOKEN")
local counter = 0
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v1/database/b/call/add", nil, string.format("[%d]", counter))
end
