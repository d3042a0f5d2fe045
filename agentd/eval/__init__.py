"""`agentd eval`: tasks with known answers, to measure what agentd and each protocol and model buy."""
