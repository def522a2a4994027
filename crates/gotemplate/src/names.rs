//! ArgoCD's name normalisation, used by the `normalize` template function and by the
//! ApplicationSet generators' `*Normalized` parameters.

/// ArgoCD's `SanitizeName` (the `normalize` function and `*Normalized` params): lower-case,
/// replace `[^-a-z0-9.]` with `-`, truncate to 253 bytes, trim `-` and `.`.
///
/// ```
/// use strata_gotemplate::sanitize_name;
/// assert_eq!(sanitize_name("production_01/west"), "production-01-west");
/// ```
pub fn sanitize_name(name: &str) -> String {
    let lowered = name.to_lowercase();
    let mut out = String::with_capacity(lowered.len());
    for c in lowered.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
            out.push(c);
        } else {
            out.push('-');
        }
    }
    if out.len() > 253 {
        let mut cut = 253;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out.trim_matches(|c| c == '-' || c == '.').to_string()
}
