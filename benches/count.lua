-- wrk script (run with -t1): stop after $BENCH_COUNT responses (the memory scenario).
local limit = tonumber(os.getenv("BENCH_COUNT") or "100000")
local n = 0
function response(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
