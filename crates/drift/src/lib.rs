//! Strata drift (work in progress).
