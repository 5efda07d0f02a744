"""Training engine (stage 1 joint, stage 2 decoupled) on Accelerate. Not imported by ``import ltzoo``:
the zoo works without the training code."""
