"""Differential conformance: one corpus of request scenarios replayed against two API servers over HTTP.

Each scenario runs in fresh namespaces on both servers, its responses are normalised (uids, timestamps,
resourceVersions by order of appearance, generated names, server-chosen IPs) and compared: status code,
Content-Type and Warning headers, and the parsed body. `python -m conformance.differential --help`.
"""
