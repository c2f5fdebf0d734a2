"""The cluster's storage: an etcd-shaped key-value store and the object storage on top of it."""
