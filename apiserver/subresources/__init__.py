"""Subresources other than status, each in the module named after it, as kube-apiserver serves them.

`binding` and `eviction` take their own kinds (core/v1 Binding, policy/v1 Eviction); `finalize` and
`ephemeralcontainers` are updates of their parent through a strategy of their own; `kubelet` and `proxy` answer
what kube-apiserver answers when no kubelet or endpoint is reachable, and forward nothing. The routes are in
`apiserver.handlers.subresources`; the declarations (names, verbs, kinds) in `apiserver.kinds`.
"""
