//! [`SharedCause`]: an underlying error kept as a source by error types that must stay
//! `Clone` (and comparable), shared by the crates whose errors are.

/// An underlying error shared behind an [`Arc`](std::sync::Arc), so that errors holding it stay
/// `Clone`.
///
/// It dereferences to the underlying error, and the variants holding one give that error
/// itself (not this wrapper) as their [`std::error::Error::source`], so that callers can
/// downcast it. Two are equal when their messages are.
#[derive(Clone)]
pub struct SharedCause(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl SharedCause {
    /// Shares `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(error))
    }
}

impl std::ops::Deref for SharedCause {
    type Target = dyn std::error::Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::fmt::Debug for SharedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for SharedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl PartialEq for SharedCause {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for SharedCause {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_underlying_error_is_reachable_and_equality_is_by_message() {
        let parse = "x".parse::<u8>().unwrap_err();
        let cause = SharedCause::new(parse.clone());
        assert!(cause.downcast_ref::<std::num::ParseIntError>().is_some());
        assert_eq!(cause, SharedCause::new(parse));
        assert_ne!(cause, SharedCause::new(std::fmt::Error));
        assert_eq!(cause.to_string(), "invalid digit found in string");
    }
}
