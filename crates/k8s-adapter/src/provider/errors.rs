//! Mapping Kubernetes API errors to core's retryable / final provider errors.

use kube::Error;
use strata_core::ProviderError;

use super::ANNOTATION_FORCE_CONFLICTS;

/// HTTP status codes worth trying again: throttling, server errors, gateway timeouts, and
/// `410 Gone` (an expired resource version; a fresh read succeeds).
pub fn is_retryable_code(code: u16) -> bool {
    matches!(code, 408 | 410 | 429) || (500..=599).contains(&code)
}

/// The HTTP status code of an API error, when the server answered.
pub fn status_code(error: &Error) -> Option<u16> {
    match error {
        Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Whether the error is the server's `404 Not Found`.
pub fn is_not_found(error: &Error) -> bool {
    status_code(error) == Some(404)
}

/// Whether a discovery error means the cluster does not serve the kind: its group version is
/// unknown (`404`) or does not list it.
pub fn is_not_served(error: &Error) -> bool {
    use kube::error::DiscoveryError;
    match error {
        Error::Discovery(
            DiscoveryError::MissingKind(_)
            | DiscoveryError::MissingResource(_)
            | DiscoveryError::MissingApiGroup(_),
        ) => true,
        other => is_not_found(other),
    }
}

/// Whether a server error is a server-side apply whose body does not fit the kind's schema
/// (a field the kind does not declare): the API server answers 500 for it
/// (kubernetes/kubernetes#122480), but sending the same body again fails the same way.
pub fn is_schema_mismatch(code: u16, message: &str) -> bool {
    code == 500 && message.starts_with("failed to create typed patch object")
}

/// Maps a kube error met while doing `what` to `target` to a provider error whose source is
/// the kube error itself.
///
/// * 429, 5xx, 408, 410 and transport failures (connection refused, timeouts) are retryable,
///   except the 500 of an apply whose body does not fit the schema ([`is_schema_mismatch`]);
/// * 409 Conflict is final, with a sentence saying which manager holds the fields and how to
///   take them over;
/// * everything else (400, 401, 403, 404, 422, discovery misses) is final.
pub fn map_error(error: Error, what: &str, target: &str) -> ProviderError {
    classify(&error, what, target).with_source(error)
}

fn classify(error: &Error, what: &str, target: &str) -> ProviderError {
    match error {
        Error::Api(status) => {
            let code = status.code;
            let message = if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            };
            if code == 409 {
                ProviderError::final_error(format!(
                    "conflict while {what} {target} (409): {message}; another field manager owns \
                     these fields or the object changed meanwhile — to take the fields over, annotate the \
                     resource with {ANNOTATION_FORCE_CONFLICTS}: \"true\" (or set the provider's \
                     force_conflicts), or remove them from the desired manifest"
                ))
            } else if is_retryable_code(code) && !is_schema_mismatch(code, &message) {
                ProviderError::retryable(format!(
                    "{what} {target}: the API server answered {code}: {message}"
                ))
            } else {
                ProviderError::final_error(format!(
                    "{what} {target}: the API server answered {code}: {message}"
                ))
            }
        }
        Error::HyperError(e) => ProviderError::retryable(format!(
            "{what} {target}: connection failed: {}",
            with_causes(e)
        )),
        Error::Service(e) => ProviderError::retryable(format!(
            "{what} {target}: request failed: {}",
            with_causes(e.as_ref())
        )),
        Error::Discovery(e) => ProviderError::final_error(format!(
            "{what} {target}: the cluster does not serve this kind ({e})"
        )),
        other => ProviderError::final_error(format!("{what} {target}: {other}")),
    }
}

/// An error with its chain of causes (`client error (Connect): tcp connect error: Connection
/// refused (os error 111)`): transport errors say what went wrong only in their sources. A
/// cause whose text its parent already shows is not repeated.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut shown = text.clone();
    let mut cause = error.source();
    while let Some(current) = cause {
        let line = current.to_string();
        if !line.is_empty() && !shown.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        shown = line;
        cause = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16) -> Error {
        Error::Api(Status::failure("boom", "Reason").with_code(code).boxed())
    }

    #[test]
    fn throttling_and_server_errors_are_retryable() {
        for code in [408, 410, 429, 500, 502, 503, 504] {
            assert!(
                map_error(api(code), "applying", "x").is_retryable(),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(
                !map_error(api(code), "applying", "x").is_retryable(),
                "{code}"
            );
        }
    }

    #[test]
    fn an_apply_body_that_misses_the_schema_is_final_despite_its_500() {
        let status = Status::failure(
            "failed to create typed patch object (d/a; /v1, Kind=ConfigMap): .dat: field not declared in schema",
            "",
        )
        .with_code(500);
        let e = map_error(Error::Api(status.boxed()), "applying", "ConfigMap/d/a");
        assert!(!e.is_retryable(), "{}", e.message);
        assert!(
            e.message.ends_with(".dat: field not declared in schema"),
            "{}",
            e.message
        );
    }

    #[test]
    fn unknown_group_versions_and_missing_kinds_are_not_served() {
        use kube::error::DiscoveryError;
        assert!(is_not_served(&api(404)));
        assert!(is_not_served(&Error::Discovery(
            DiscoveryError::MissingKind("Widget".to_owned())
        )));
        assert!(!is_not_served(&api(403)));
        assert!(!is_not_served(&api(503)));
    }

    #[test]
    fn conflicts_are_final_and_say_how_to_proceed() {
        let e = map_error(api(409), "applying", "ConfigMap/default/a");
        assert!(!e.is_retryable());
        assert!(e.message.contains("conflict"), "{}", e.message);
        assert!(
            e.message
                .contains("annotate the resource with strata.dev/force-conflicts: \"true\""),
            "{}",
            e.message
        );
        assert!(e.message.contains("ConfigMap/default/a"), "{}", e.message);
    }

    #[test]
    fn transport_errors_name_their_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Outer(#[source] std::io::Error);
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = map_error(
            Error::Service(Box::new(Outer(refused))),
            "applying",
            "ConfigMap/default/a",
        );
        assert!(e.is_retryable());
        assert_eq!(
            e.message,
            "applying ConfigMap/default/a: request failed: client error (Connect): Connection refused"
        );
    }

    #[test]
    fn the_kube_error_is_the_source() {
        let e = map_error(api(503), "reading", "ConfigMap/default/a");
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<Error>().is_some(), "{source}");
    }
}
