module agentd/tests/attacker

go 1.19
