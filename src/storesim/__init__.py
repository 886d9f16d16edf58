"""storesim: a chain of retail stores, simulated coherently and deterministically, as Avro events."""

__version__ = "0.1.0"

__all__ = ["__version__"]
