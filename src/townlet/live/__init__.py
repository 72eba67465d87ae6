"""Live play of the newest checkpoint, served over HTTP and a WebSocket."""
