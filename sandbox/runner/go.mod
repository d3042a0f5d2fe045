module agentd/runner

go 1.19
