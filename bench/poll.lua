-- wrk script: each request polls as a random one of DEVICES seeded devices.
local devices = tonumber(os.getenv("DEVICES") or "1000")
-- A well-formed digest of an inventory the server does not have: the poll
-- does all its work and asks for the inventory (inventory_required).
local body = '{"inventory_digest":"' .. string.rep("b", 64) .. '"}'
math.randomseed(os.time())
request = function()
  local i = math.random(1, devices)
  return wrk.format("POST", "/api/v1/device/poll",
    {["Authorization"] = "Bearer dev_bench_" .. i, ["Content-Type"] = "application/json"},
    body)
end
