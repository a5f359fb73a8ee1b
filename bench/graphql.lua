-- wrk script: one GraphQL document POSTed to /dbs/DB/graphql (Airsequel);
-- the database, token and document come from the environment.
local token = os.getenv("ATRIUM_BENCH_TOKEN")
local db = os.getenv("ATRIUM_BENCH_DB") or "bench"
local query = os.getenv("ATRIUM_BENCH_QUERY")
wrk.method = "POST"
wrk.path = "/dbs/" .. db .. "/graphql"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"' .. query:gsub('"', '\\"') .. '"}'
