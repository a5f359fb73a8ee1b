-- wrk script: primary-key lookups spread over the 100,000 users.
local path = os.getenv("ATRIUM_BENCH_PATH")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", string.format(path, math.random(1, 100000)))
end
