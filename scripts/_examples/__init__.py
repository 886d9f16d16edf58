"""scripts/install-examples: the consumer examples' virtual environments and jars (standard library only)."""
