//! Strata Kubernetes adapter (work in progress).
