-- wrk script: POST /subjects/s{0..99} with the schema registered there (the
-- lookup serializers make before producing). The schemas are those wrk.sh
-- registers.
local bodies = {}
for i = 0, 99 do
  local schema = string.format('{"type":"record","name":"R%d","namespace":"bench","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}', i)
  bodies[i] = '{"schema":"' .. schema:gsub('"', '\\"') .. '"}'
end
local i = 0
request = function()
  i = (i + 1) % 100
  return wrk.format("POST", "/subjects/s" .. i, {["Content-Type"] = "application/vnd.schemaregistry.v1+json"}, bodies[i])
end
