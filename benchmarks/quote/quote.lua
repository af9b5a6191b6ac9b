-- wrk script: POST the 8-line receipts of bodies.jsonl to /v1/quote in turn, with a token.
--   wrk -t1 -c32 -d20s --latency -s quote.lua http://127.0.0.1:PORT -- bodies.jsonl TOKEN
local bodies = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  i = i % #bodies + 1
  return wrk.format(nil, "/v1/quote", nil, bodies[i])
end
