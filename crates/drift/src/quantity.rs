//! Kubernetes resource quantities (`500m`, `1.5Gi`, `1e3`) in their canonical spelling.
//!
//! The canonical form is the one the API server and client-go write back:
//! decimal values use the largest SI suffix that keeps an integer mantissa (`2000m` → `2`,
//! `0.2` → `200m`, `1.25G` → `1250M`), binary values the largest power of 1024 (`1536Mi`),
//! and values finer than a nano unit are rounded up.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// Returns the canonical spelling of a quantity, or `None` when `text` is not a valid quantity.
pub fn canonical_quantity(text: &str) -> Option<String> {
    let (mut mantissa, mut exp10, format) = parse(text.trim())?;
    // Round up to nano precision, as the API machinery does.
    if exp10 < -9 {
        let shift = u32::try_from(-9 - exp10).ok()?;
        let div = 10i128.checked_pow(shift)?;
        let q = mantissa.div_euclid(div);
        let r = mantissa.rem_euclid(div);
        mantissa = if r != 0 { q + 1 } else { q };
        exp10 = -9;
    }
    if mantissa == 0 {
        return Some("0".to_string());
    }
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp10 += 1;
    }
    let mut format = format;
    if format == Format::BinarySI {
        let integer = exp10 >= 0;
        let small = exp10 <= 3 && {
            let value =
                mantissa.checked_mul(10i128.checked_pow(u32::try_from(exp10.max(0)).ok()?)?);
            value.is_some_and(|v| v > -1024 && v < 1024)
        };
        if !integer || small {
            format = Format::DecimalSI;
        }
    }
    match format {
        Format::BinarySI => {
            let mut value =
                mantissa.checked_mul(10i128.checked_pow(u32::try_from(exp10).ok()?)?)?;
            let mut power = 0usize;
            while power < 6 && value % 1024 == 0 {
                value /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            Some(format!("{value}{suffix}"))
        }
        Format::DecimalSI | Format::DecimalExponent => {
            match exp10.rem_euclid(3) {
                1 => {
                    mantissa = mantissa.checked_mul(10)?;
                    exp10 -= 1;
                }
                2 => {
                    mantissa = mantissa.checked_mul(100)?;
                    exp10 -= 2;
                }
                _ => {}
            }
            if format == Format::DecimalExponent {
                if exp10 == 0 {
                    return Some(mantissa.to_string());
                }
                return Some(format!("{mantissa}e{exp10}"));
            }
            let suffix = match exp10 {
                -9 => "n",
                -6 => "u",
                -3 => "m",
                0 => "",
                3 => "k",
                6 => "M",
                9 => "G",
                12 => "T",
                15 => "P",
                18 => "E",
                _ => return Some(format!("{mantissa}e{exp10}")),
            };
            Some(format!("{mantissa}{suffix}"))
        }
    }
}

/// Parses `[+-]digits[.digits][suffix]` into `(mantissa, exponent of ten, format)`.
fn parse(text: &str) -> Option<(i128, i32, Format)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if let Some(&c) = bytes.first()
        && (c == b'+' || c == b'-')
    {
        negative = c == b'-';
        i = 1;
    }
    let mut mantissa: i128 = 0;
    let mut exp10: i32 = 0;
    let mut digits = 0;
    let mut seen_dot = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(c - b'0'))?;
            if seen_dot {
                exp10 -= 1;
            }
            digits += 1;
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let suffix = &text[i..];
    let format = match suffix {
        "" => Format::DecimalSI,
        "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => {
            exp10 += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                _ => 18,
            };
            Format::DecimalSI
        }
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power: u32 = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            mantissa = mantissa.checked_mul(1024i128.checked_pow(power)?)?;
            Format::BinarySI
        }
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let n: i32 = exp.parse().ok()?;
            exp10 = exp10.checked_add(n)?;
            Format::DecimalExponent
        }
    };
    if negative {
        mantissa = -mantissa;
    }
    Some((mantissa, exp10, format))
}

#[cfg(test)]
mod tests {
    use super::canonical_quantity as c;

    #[test]
    fn canonical_forms() {
        assert_eq!(c("2000m").as_deref(), Some("2"));
        assert_eq!(c("0.2").as_deref(), Some("200m"));
        assert_eq!(c("1.25G").as_deref(), Some("1250M"));
        assert_eq!(c("1536Mi").as_deref(), Some("1536Mi"));
        assert_eq!(c("30Gi").as_deref(), Some("30Gi"));
        assert_eq!(c("1024Mi").as_deref(), Some("1Gi"));
        assert_eq!(c("25m").as_deref(), Some("25m"));
        assert_eq!(c("1").as_deref(), Some("1"));
        assert_eq!(c("1000").as_deref(), Some("1k"));
        assert_eq!(c("0").as_deref(), Some("0"));
        assert_eq!(c("1e3").as_deref(), Some("1e3"));
        assert_eq!(c("512").as_deref(), Some("512"));
        assert_eq!(c("0.5Ki").as_deref(), Some("512"));
        assert_eq!(c("1.5Gi").as_deref(), Some("1536Mi"));
        assert_eq!(c("0.0000000001").as_deref(), Some("1n"));
        assert_eq!(c("abc"), None);
        assert_eq!(c("1Zi"), None);
    }
}
