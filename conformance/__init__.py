"""The real Kubernetes beside ours: kube-apiserver built from its Go modules, and the suites that compare them."""
