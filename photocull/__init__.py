"""photocull: curate a phone's photo library."""

__version__ = "0.1.0"
