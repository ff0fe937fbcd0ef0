"""Authorization as kube-apiserver's: every authenticated request's attributes (user, verb, resource or path) go
to the authorizers of `--authorization-mode` in order, members of `system:masters` first allowed outright; a
request none allows is a 403 `Forbidden` Status with upstream's message."""
