-- Ingest stand-in: POST a 207-byte reading, the size of a typical sensor record, to the URL's path
-- (/devices/bench on sluice, /post on nginx).
local prefix = '{"device":"bench","seq":4711,"t":"2024-01-01T00:00:00Z","temp_c":21.53,"rh":40.2,"hpa":1013.25,"pad":"'
local suffix = '"}\n'
local body = prefix .. string.rep("x", 207 - #prefix - #suffix) .. suffix
assert(#body == 207, "body must be 207 bytes, is " .. #body)

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
