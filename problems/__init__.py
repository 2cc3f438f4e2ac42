"""Rebalancing problem instances built from real and synthetic data."""
