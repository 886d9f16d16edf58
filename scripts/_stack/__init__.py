"""The implementation of scripts/stack: install, start, check and stop the local infrastructure."""
