"""Readers, writers and pure DataFrame transforms of the iiap lakehouse."""
