"""Huifang (回访): automated follow-up calling for auto-finance lenders."""
