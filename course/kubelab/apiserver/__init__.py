"""kube-apiserver in Python: HTTP handler → admission → registry (strategy) → storage."""
