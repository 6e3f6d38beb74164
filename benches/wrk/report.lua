-- Appended to every wrk script used by benches/wrk_vs_nginx.sh: prints one machine-readable line
-- after the run so the shell side does not have to parse wrk's rounded, unit-suffixed summary.
-- Times are microseconds; bytes are everything read from the sockets (heads and bodies).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d timeout=%d status=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
