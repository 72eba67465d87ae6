"""Starts training, live play and the frontend, and shuts them down in order."""
