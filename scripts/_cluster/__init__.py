"""The implementation of scripts/cluster: a one-node Kubernetes cluster on this machine, for the tests."""
