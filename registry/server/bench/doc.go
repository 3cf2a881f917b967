// Package bench measures `schemaflow registry serve` with wrk, an
// external load generator, so that the client does not share the
// server's Go runtime: wrk.sh (also `make bench-registry`) compares
// binaries and engines side by side, and BenchmarkWrk runs it on the
// binary built from this tree for `make bench`. ids.lua and lookup.lua
// are the wrk scripts: GET /schemas/ids/{id} and POST /subjects/{s}.
package bench
