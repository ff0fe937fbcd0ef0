"""Kubernetes' protobuf wire form, derived from the kinds' schemas (field numbers declared with `proto=`)."""
