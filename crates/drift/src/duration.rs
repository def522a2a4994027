//! Go `time.Duration` parsing and formatting (`8760h` → `8760h0m0s`), as Kubernetes `metav1.Duration` uses.

use std::time::Duration;

/// Parses a Go duration string such as `1h30m`, `500ms` or `-1.5s` into signed nanoseconds.
pub fn parse_go_duration(text: &str) -> Option<i128> {
    let mut s = text;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    let mut exact: i128 = 0;
    let mut all_exact = true;
    while !s.is_empty() {
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        if num_end == 0 {
            return None;
        }
        let number = &s[..num_end];
        s = &s[num_end..];
        let unit_end = s
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(s.len());
        let unit = &s[..unit_end];
        s = &s[unit_end..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        if let Ok(whole) = number.parse::<i128>() {
            exact = exact.checked_add(whole.checked_mul(scale)?)?;
            total += (whole * scale) as f64;
        } else {
            let value: f64 = number.parse().ok()?;
            all_exact = false;
            total += value * scale as f64;
        }
    }
    let nanos = if all_exact { exact } else { total as i128 };
    Some(if negative { -nanos } else { nanos })
}

/// Formats signed nanoseconds as Go's `Duration.String()` does (`1h0m0s`, `1.5s`, `300ms`, `0s`).
pub fn format_go_duration(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1u128)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fraction(n, div));
    }
    let hours = n / 3_600_000_000_000;
    let rest = n % 3_600_000_000_000;
    let minutes = rest / 60_000_000_000;
    let secs = fraction(rest % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

fn fraction(value: u128, div: u128) -> String {
    let whole = value / div;
    let frac = value % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Parses a retry duration as ArgoCD does: a plain integer means seconds, otherwise a Go duration.
pub fn parse_retry_duration(text: &str) -> Option<Duration> {
    if let Ok(secs) = text.parse::<i64>() {
        return u64::try_from(secs).ok().map(Duration::from_secs);
    }
    let nanos = parse_go_duration(text)?;
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let f = |s: &str| parse_go_duration(s).map(format_go_duration);
        assert_eq!(f("8760h").as_deref(), Some("8760h0m0s"));
        assert_eq!(f("90m").as_deref(), Some("1h30m0s"));
        assert_eq!(f("1.5s").as_deref(), Some("1.5s"));
        assert_eq!(f("300ms").as_deref(), Some("300ms"));
        assert_eq!(f("0").as_deref(), Some("0s"));
        assert_eq!(f("2m3s").as_deref(), Some("2m3s"));
        assert_eq!(f("bogus"), None);
        assert_eq!(parse_retry_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_duration("3m"), Some(Duration::from_secs(180)));
    }
}
