"""Local stand-ins for the LLM vendors' HTTP APIs, for tests over real HTTP."""
