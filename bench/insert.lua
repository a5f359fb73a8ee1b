-- wrk script: single-row INSERTs, through Airsequel's SQL endpoint,
-- (ATRIUM_BENCH_STYLE=datasette) Datasette's JSON write API or
-- (ATRIUM_BENCH_STYLE=graphql) an Airsequel GraphQL insert mutation. The
-- token and database come from the environment (set by bench/run.py).
local token = os.getenv("ATRIUM_BENCH_TOKEN")
local db = os.getenv("ATRIUM_BENCH_DB")
local datasette = os.getenv("ATRIUM_BENCH_STYLE") == "datasette"
local graphql = os.getenv("ATRIUM_BENCH_STYLE") == "graphql"
local counter = 0
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  if graphql then
    local body = string.format(
      '{"query":"mutation { insert_events(objects: [{kind: \\"bench\\", n: %d}]) { affected_rows } }"}', counter)
    return wrk.format(nil, "/dbs/" .. db .. "/graphql", nil, body)
  end
  if datasette then
    local body = string.format('{"row": {"kind": "bench", "n": %d}}', counter)
    return wrk.format(nil, "/" .. db .. "/events/-/insert", nil, body)
  end
  local body = string.format('{"query":"INSERT INTO events(kind, n) VALUES (\'bench\', %d)"}', counter)
  return wrk.format(nil, "/dbs/" .. db .. "/sql", nil, body)
end
