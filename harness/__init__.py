"""The loss harness: compare loss functions on benchmark tasks."""

__version__ = "0.2.0"
