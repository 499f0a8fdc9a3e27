-- done(): every bench script reports its run as one JSON line, which
-- bench/bench.py reads (it never parses wrk's human output).
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
