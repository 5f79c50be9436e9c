"""melib: micro-expression recognition — loaders, preprocessing, models and protocols for the MER study."""
__version__ = "0.1.0"
