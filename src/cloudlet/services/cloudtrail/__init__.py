"""AWS CloudTrail (see provider.py)."""
