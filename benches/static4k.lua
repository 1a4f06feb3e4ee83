-- wrk script: GET /static/4k/0.bin .. /static/4k/99.bin in turn (100 small files, so a server's
-- per-file work -- open, fstat, headers -- is what is measured, not one cached answer).
local i = 0
request = function()
    i = (i + 1) % 100
    return wrk.format("GET", "/static/4k/" .. i .. ".bin")
end
