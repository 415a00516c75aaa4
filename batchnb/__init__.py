"""batchnb: Azure Batch from a Jupyter notebook."""

__version__ = "0.1.0"
