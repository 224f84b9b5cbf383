"""cloudlet: a whole AWS region on one machine."""

__version__ = "0.1.0"
