"""ganvas: make art with generative adversarial networks."""

__version__ = "0.1.0"
