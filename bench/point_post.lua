-- wrk script: the same primary-key lookup as point.lua, through a door
-- that takes its SQL in a POST body: ATRIUM_BENCH_DOOR is typedb
-- (/v1/query), airsequel (/dbs/bench/sql) or stdb (/v1/database/bench/sql).
local door = os.getenv("ATRIUM_BENCH_DOOR")
local token = os.getenv("ATRIUM_BENCH_TOKEN")
math.randomseed(os.time())
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
request = function()
  local sql = string.format("SELECT * FROM users WHERE id = %d", math.random(1, 100000))
  if door == "typedb" then
    return wrk.format("POST", "/v1/query", headers,
      string.format('{"databaseName":"bench","transactionType":"read","query":"%s"}', sql))
  elseif door == "airsequel" then
    return wrk.format("POST", "/dbs/bench/sql", headers, string.format('{"query":"%s"}', sql))
  else
    return wrk.format("POST", "/v1/database/bench/sql", headers, sql)
  end
end
