"""Deterministic synthetic national feeds: what the 34 platforms would deliver, with known faults."""
