"""CustomResourceDefinitions (apiextensions.k8s.io/v1), as kube-apiserver's apiextensions-apiserver serves them.

- `definition`: the CustomResourceDefinition kind itself (defaults, strategy, validation of CRD objects);
- `structural`: a version's structural schema applied to custom resources (validation, defaulting, the schema nodes
  that prune unknown fields);
- `cel`: `x-kubernetes-validations` rules;
- `resource`: the kinds a CRD serves, one per served version (strategy, Table columns, scale);
- `controller`: establishes CRDs (NamesAccepted, Established), serves and stops serving their kinds, and deletes a
  deleted CRD's objects before removing it.
"""
