//! Name rules checked before anything is planned: a name the target system would refuse fails
//! the plan with one error naming file, document and field, instead of failing in the middle of
//! an apply.
//!
//! - Kubernetes: every object name is a DNS-1123 subdomain (at most 253 characters, lower-case
//!   letters, digits, `-` and `.`, starting and ending with a letter or digit); `Namespace` and
//!   `Service` names and every namespace are DNS-1123 labels (at most 63, no `.`).
//! - S3 buckets (`s3.aws.upbound.io` `Bucket`): the bucket name (external name, else
//!   `metadata.name`) has 3–63 characters of lower-case letters, digits, `.` and `-`, starts
//!   and ends with a letter or digit, has no `..`, and is not an IP address.
//! - RDS instances (`rds.aws.upbound.io` `Instance`): the identifier (external name, else
//!   `metadata.name`) has 1–63 letters, digits or `-`, starts with a letter, has no `--` and
//!   does not end with `-`.

use crate::model::{ANNOTATION_EXTERNAL_NAME, Resource, SourceLocation};

/// A name the target system would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}field `{field}`: {message}", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
#[non_exhaustive]
pub struct NameError {
    /// Where the manifest was read from.
    pub location: Option<SourceLocation>,
    /// The resource's address.
    pub address: String,
    /// The field holding the name (`metadata.name`, `metadata.namespace`, or the external-name
    /// annotation).
    pub field: String,
    /// What is wrong, with the rule.
    pub message: String,
}

/// Checks the names of `resources`; every violation is returned, in input order.
pub fn check_names(resources: &[Resource]) -> Vec<NameError> {
    // Each name is checked on its own: a large set on every core, in order.
    crate::par::flat_map_slices(resources, |run| check_names_of(run))
}

/// Checks the names of the resources given, in their order (see [`check_names`]).
pub fn check_names_of<'a>(resources: impl IntoIterator<Item = &'a Resource>) -> Vec<NameError> {
    let mut errors = Vec::new();
    for resource in resources {
        let mut fail = |field: &str, message: String| {
            errors.push(NameError {
                location: resource.source.clone(),
                address: resource.key.to_string(),
                field: field.to_owned(),
                message: format!("{} {message}", resource.key),
            });
        };
        let key = &resource.key;
        let label_kind =
            key.group.is_empty() && matches!(key.kind.as_str(), "Namespace" | "Service");
        let problem = if label_kind {
            dns_label_problem(&key.name)
        } else {
            dns_subdomain_problem(&key.name)
        };
        if let Some(problem) = problem {
            fail("metadata.name", problem);
        }
        if let Some(problem) = key.namespace.as_deref().and_then(dns_label_problem) {
            fail("metadata.namespace", problem);
        }
        let external = resource.annotation(ANNOTATION_EXTERNAL_NAME);
        let (field, cloud_name) = match external {
            Some(name) => (
                format!("metadata.annotations[{ANNOTATION_EXTERNAL_NAME}]"),
                name,
            ),
            None => ("metadata.name".to_owned(), key.name.as_str()),
        };
        let cloud_problem = match (key.group.as_str(), key.kind.as_str()) {
            ("s3.aws.upbound.io", "Bucket") => s3_bucket_problem(cloud_name),
            ("rds.aws.upbound.io", "Instance") => rds_identifier_problem(cloud_name),
            _ => None,
        };
        if let Some(problem) = cloud_problem {
            fail(&field, problem);
        }
    }
    errors
}

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Why `name` is not a DNS-1123 label, if it is not.
pub fn dns_label_problem(name: &str) -> Option<String> {
    if name.len() > 63 {
        return Some(format!(
            "name is {} characters long; a DNS-1123 label has at most 63",
            name.len()
        ));
    }
    dns_shape_problem(name, false, "a DNS-1123 label")
}

/// Why `value` cannot be a Kubernetes label value (at most 63 characters of letters, digits,
/// `-`, `_` and `.`, starting and ending with a letter or digit), if it cannot.
pub fn label_value_problem(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some(format!(
            "`{value}` is {} characters long; a label value has at most 63",
            value.len()
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if let Some(c) = value.chars().find(|c| !allowed(*c)) {
        return Some(format!(
            "`{value}` has `{c}`: a label value has only letters, digits, `-`, `_` and `.`"
        ));
    }
    let ends_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !ends_ok {
        return Some(format!(
            "`{value}` must start and end with a letter or digit (a label value)"
        ));
    }
    None
}

/// Why `name` is not a DNS-1123 subdomain, if it is not.
pub fn dns_subdomain_problem(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some(format!(
            "name is {} characters long; a DNS-1123 subdomain has at most 253",
            name.len()
        ));
    }
    dns_shape_problem(name, true, "a DNS-1123 subdomain")
}

fn dns_shape_problem(name: &str, dots: bool, what: &str) -> Option<String> {
    let allowed = |c: char| is_lower_alnum(c) || c == '-' || (dots && c == '.');
    let bad = name.chars().find(|c| !allowed(*c));
    let ends_ok = name.chars().next().is_some_and(is_lower_alnum)
        && name.chars().last().is_some_and(is_lower_alnum);
    match bad {
        Some(c) => Some(format!(
            "name `{name}` has `{c}`: {what} has only lower-case letters, digits, `-`{}",
            if dots { " and `.`" } else { "" }
        )),
        None if !ends_ok => Some(format!(
            "name `{name}` must start and end with a lower-case letter or digit ({what})"
        )),
        None => None,
    }
}

/// Why `name` is not a valid S3 bucket name, if it is not.
pub fn s3_bucket_problem(name: &str) -> Option<String> {
    let rule = "S3 bucket names have 3-63 lower-case letters, digits, `.` and `-`, start and end \
                with a letter or digit, have no `..` and are not IP addresses";
    let valid = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| is_lower_alnum(c) || c == '.' || c == '-')
        && name.chars().next().is_some_and(is_lower_alnum)
        && name.chars().last().is_some_and(is_lower_alnum)
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err();
    (!valid).then(|| format!("bucket name `{name}` is invalid: {rule}"))
}

/// Why `name` is not a valid RDS instance identifier, if it is not.
pub fn rds_identifier_problem(name: &str) -> Option<String> {
    let rule = "RDS instance identifiers have 1-63 letters, digits or `-`, start with a letter, \
                have no `--` and do not end with `-`";
    let valid = (1..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !name.contains("--")
        && !name.ends_with('-');
    (!valid).then(|| format!("identifier `{name}` is invalid: {rule}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource(manifest: serde_json::Value) -> Resource {
        Resource::from_manifest(manifest).unwrap()
    }

    #[test]
    fn kubernetes_names_follow_dns_1123() {
        assert_eq!(dns_subdomain_problem("payments.db-1"), None);
        assert!(dns_subdomain_problem(&"a".repeat(254)).is_some());
        assert!(dns_subdomain_problem("Payments").is_some());
        assert!(dns_subdomain_problem("-x").is_some());
        assert!(dns_subdomain_problem("a_b").is_some());
        assert_eq!(dns_label_problem(&"a".repeat(63)), None);
        assert!(dns_label_problem(&"a".repeat(64)).is_some());
        assert!(dns_label_problem("a.b").is_some());
    }

    #[test]
    fn cloud_names_follow_their_providers_rules() {
        assert_eq!(s3_bucket_problem("payments-assets-eu"), None);
        for bad in [
            "ab",
            "Assets",
            "a..b",
            "192.168.1.1",
            "-assets",
            "assets_eu",
        ] {
            assert!(s3_bucket_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(rds_identifier_problem("payments-db"), None);
        for bad in ["1db", "db--x", "db-", "db_x", ""] {
            assert!(rds_identifier_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn errors_name_the_field_and_the_external_name_is_checked() {
        let long = resource(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x".repeat(300), "namespace": "default"}}));
        let bucket = resource(
            json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
            "metadata": {"name": "assets", "annotations": {"crossplane.io/external-name": "Assets_EU"}}}),
        );
        let fine = resource(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        );
        let errors = check_names(&[long, bucket, fine]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].field, "metadata.name");
        assert!(
            errors[0].message.contains("300 characters"),
            "{}",
            errors[0]
        );
        assert_eq!(
            errors[1].field,
            "metadata.annotations[crossplane.io/external-name]"
        );
    }
}
