// Package kubernetes holds memrelief's Kubernetes manifests (namespace.yaml,
// configmap.yaml, daemonset.yaml, and metrics-tls/ for scraping the pods
// with the Prometheus Operator) and the tests that decode them strictly
// into the API types, so a misspelt field fails here and not at kubectl
// apply on a fleet.
package kubernetes
