"""Targets, rings, schemes and their exact verification."""
