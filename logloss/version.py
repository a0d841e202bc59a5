"""The package's version, in a module of its own: the modules that record it (model files,
report pages) read it here, not from the package root, which imports the API above them."""

__version__ = "0.1.0"
