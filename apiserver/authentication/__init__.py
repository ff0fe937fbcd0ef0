"""Authentication as kube-apiserver's: who sent a request, from a client certificate (`--client-ca-file`), a bearer
token (`--token-auth-file`) or nobody (`system:anonymous`), attached to the request for what follows (the
SelfSubjectReview, the authorizer, the audit log). A credential that does not check out is a 401."""
