//! Kubernetes quantities (`500m`, `1Gi`, `1.5`, `1e3`), as the API server parses them.

/// Whether `text` is a quantity: an optionally signed decimal number (`1`, `1.5`, `.5`, `5.`)
/// followed by nothing, a binary suffix (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`), a decimal suffix
/// (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`, `E-2`).
pub fn is_quantity(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let number_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_end);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return false;
    }
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T"
        | "P" | "E" => true,
        _ => {
            let Some(exponent) = suffix.strip_prefix(['e', 'E']) else {
                return false;
            };
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            !exponent.is_empty() && exponent.chars().all(|c| c.is_ascii_digit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_quantity;

    #[test]
    fn quantities_are_told_from_other_text() {
        for good in [
            "1", "500m", "1Gi", "1.5", ".5", "5.", "+2", "-1", "1e3", "1E-2", "100M", "3Ki", "7n",
            "2u",
        ] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in [
            "", "m", "1.2.3", "1gi", "1 Gi", "abc", "1e", "1KiB", "1.5x", "--1", "e3",
        ] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
