"""The loss harness: compare loss functions on benchmark tasks."""

__version__ = "0.1.0"
