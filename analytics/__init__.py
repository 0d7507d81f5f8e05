"""Activity classification and index computation, built on the silver and gold tables."""
