//! Strata AWS adapter (work in progress).
