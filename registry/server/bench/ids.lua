-- wrk script: GET /schemas/ids/{1..100} in turn (what deserializers call).
local i = 0
request = function()
  i = i % 100 + 1
  return wrk.format("GET", "/schemas/ids/" .. i)
end
