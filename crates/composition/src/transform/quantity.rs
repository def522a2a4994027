//! Kubernetes `resource.Quantity` parsing, as an approximate float (`AsApproximateFloat64`).

/// A text that is not a Kubernetes quantity (Kubernetes' own wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The text is empty.
    #[error("quantities must match the regular expression")]
    Empty,
    /// The text does not have the form of a quantity.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Malformed,
}

/// Parses a quantity such as `1000m`, `1Gi`, `1.5e3` into its approximate value.
pub fn parse_quantity(s: &str) -> Result<f64, QuantityError> {
    let err = || QuantityError::Malformed;
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(num_end);
    if num.is_empty() || num.matches('.').count() > 1 || num == "." {
        return Err(err());
    }
    let base: f64 = num.parse::<f64>().map_err(|_| err())?;
    let multiplier: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        other => {
            let Some(exp) = other.strip_prefix(['e', 'E']) else {
                return Err(err());
            };
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let e: i32 = exp.parse().map_err(|_| err())?;
            10f64.powi(e)
        }
    };
    let v = base * multiplier;
    Ok(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse_quantity("1000m"), Ok(1.0));
        assert_eq!(parse_quantity("1Gi"), Ok(1073741824.0));
        assert_eq!(parse_quantity("1.5e3"), Ok(1500.0));
        assert_eq!(parse_quantity("-2k"), Ok(-2000.0));
        assert!(parse_quantity("1000 blabla").is_err());
        assert!(parse_quantity("1Xi").is_err());
    }
}
