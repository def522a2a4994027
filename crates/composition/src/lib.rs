//! Strata composition (work in progress).
