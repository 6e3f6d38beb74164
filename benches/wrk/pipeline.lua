-- Pipelining: each write carries PIPELINE_DEPTH GET requests for the URL's path. wrk counts the
-- requests in the string that `request` returns and expects that many responses per write.
local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "16")
local batch

function init(args)
  local parts = {}
  for i = 1, depth do
    parts[i] = wrk.format("GET", wrk.path)
  end
  batch = table.concat(parts)
end

function request()
  return batch
end
