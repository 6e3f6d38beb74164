-- Ingest across many devices: POST the same 207-byte reading as post.lua, cycling the device over
-- POST_DEVICES (default 1) ids: the URL's path with its trailing number replaced by 0, 1, 2, ...
-- (/devices/d0 -> /devices/d0, /devices/d1, ...). One wrk thread keeps the cycle exact.
local prefix = '{"device":"bench","seq":4711,"t":"2024-01-01T00:00:00Z","temp_c":21.53,"rh":40.2,"hpa":1013.25,"pad":"'
local suffix = '"}\n'
local body = prefix .. string.rep("x", 207 - #prefix - #suffix) .. suffix
assert(#body == 207, "body must be 207 bytes, is " .. #body)

local devices = tonumber(os.getenv("POST_DEVICES") or "1")
assert(devices and devices >= 1, "POST_DEVICES must be a positive number")
local next_device = 0
local path_prefix

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function init(args)
  path_prefix = wrk.path:gsub("%d+$", "")
end

function request()
  local path = path_prefix .. next_device
  next_device = (next_device + 1) % devices
  return wrk.format(nil, path)
end
