"""Townlet: a small survival world for deep reinforcement learning."""
