"""Deployment files for agentd, and the build of its service image (`python -m deploy.build`)."""
