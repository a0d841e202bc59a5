"""logloss: distributed batch training of binary logistic regression on Dask."""

__version__ = "0.1.0"
