"""kube-apiserver's self-defence filters: the request timeout, the in-flight limits, and the HTTP server's own
limits (header bytes, header read and idle timeouts)."""
