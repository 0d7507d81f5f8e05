"""Helpers the tests share: the tiny national feed's size, and settings pointed at a test's own lakehouse."""

from etl.config import load_generator

# The tiny national feed every end-to-end test shares (generated once per session), in
# two passes of enterprises, as scale 1 is written in ten: every delivery has two part files.
SCALE, SEED, PER_PASS = 0.0003, 11, 2000


def tiny_generator():
    gen = load_generator()
    return gen.model_copy(update={"population": gen.population.model_copy(update={"enterprises_per_chunk": PER_PASS})})


def settings_for(settings, lakehouse, landing):
    """The session settings with another lakehouse and landing root."""
    pipeline = settings.pipeline.model_copy(update={"lakehouse_root": str(lakehouse), "landing_root": landing})
    return settings.model_copy(update={"pipeline": pipeline})
