"""Performance evidence: Go profiles and benchmarks, PostgreSQL plans and index checks.

The parsers and analysers (`pprof`, `benchcmp`, `plans`, `sql_sources`) are pure functions over
text and JSON; `runner` drives `go test` and `go tool pprof` through the Sandbox protocol, and
`indexes` and `sql_sources.top_statements` talk to PostgreSQL. agentd keeps an optimization only
when its own interleaved before/after benchmark (`runner.compare`) shows the gain.
"""
