//! Path patterns: Go's `path.Match` (git directories) and doublestar globs (git files).

/// A malformed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `path.Match`: `*` matches any run of non-`/` characters, `?` one non-`/` character,
/// `[...]` a class (`^` negates, ranges `a-z`), `\` escapes. `**` is not special.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Validate the whole pattern first, as Go reports bad patterns even after a mismatch.
    validate(&p)?;
    Ok(match_from(&p, &n, false))
}

fn validate(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                let (_, next) = class_end(p, i)?;
                i = next;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Returns the index after the class starting at `start` (which is `[`).
fn class_end(p: &[char], start: usize) -> Result<(usize, usize), BadPattern> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(BadPattern),
            Some(']') if !first => return Ok((start, i + 1)),
            Some('\\') => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            Some(_) => i += 1,
        }
        if p.get(i) == Some(&'-') {
            i += 1;
            match p.get(i) {
                None | Some(']') => return Err(BadPattern),
                Some('\\') => i += 2,
                Some(_) => i += 1,
            }
        }
        first = false;
    }
}

fn class_matches(p: &[char], start: usize, c: char) -> (bool, usize) {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let Some(&ch) = p.get(i) else {
            return (false, i);
        };
        if ch == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, ni) = if ch == '\\' {
            (p.get(i + 1).copied().unwrap_or('\\'), i + 2)
        } else {
            (ch, i + 1)
        };
        i = ni;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            let h = p[i + 1];
            if h == '\\' {
                hi = p.get(i + 2).copied().unwrap_or('\\');
                i += 3;
            } else {
                hi = h;
                i += 2;
            }
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    (matched != negate && c != '/', i)
}

fn match_from(p: &[char], n: &[char], _in_star: bool) -> bool {
    if p.is_empty() {
        return n.is_empty();
    }
    match p[0] {
        '*' => {
            let mut rest = 1;
            while p.get(rest) == Some(&'*') {
                rest += 1;
            }
            let mut i = 0;
            loop {
                if match_from(&p[rest..], &n[i..], false) {
                    return true;
                }
                if i >= n.len() || n[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        '?' => !n.is_empty() && n[0] != '/' && match_from(&p[1..], &n[1..], false),
        '[' => {
            if n.is_empty() {
                return false;
            }
            let (ok, next) = class_matches(p, 0, n[0]);
            ok && match_from(&p[next..], &n[1..], false)
        }
        '\\' => p.len() > 1 && !n.is_empty() && n[0] == p[1] && match_from(&p[2..], &n[1..], false),
        c => !n.is_empty() && n[0] == c && match_from(&p[1..], &n[1..], false),
    }
}

/// Expands `{a,b}` alternatives (not nested inside classes) into plain patterns.
fn expand_braces(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut depth = 0;
    let mut open = None;
    for (i, c) in chars.iter().enumerate() {
        match c {
            '{' => {
                if depth == 0 {
                    open = Some(i);
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let Some(o) = open else { break };
                    let prefix: String = chars[..o].iter().collect();
                    let suffix: String = chars[i + 1..].iter().collect();
                    let inner: String = chars[o + 1..i].iter().collect();
                    let mut alts = Vec::new();
                    let mut d = 0;
                    let mut cur = String::new();
                    for ch in inner.chars() {
                        match ch {
                            '{' => {
                                d += 1;
                                cur.push(ch);
                            }
                            '}' => {
                                d -= 1;
                                cur.push(ch);
                            }
                            ',' if d == 0 => alts.push(std::mem::take(&mut cur)),
                            _ => cur.push(ch),
                        }
                    }
                    alts.push(cur);
                    return alts
                        .iter()
                        .flat_map(|a| expand_braces(&format!("{prefix}{a}{suffix}")))
                        .collect();
                }
            }
            _ => {}
        }
    }
    vec![pattern.to_string()]
}

/// Doublestar glob: like [`path_match`] per segment, plus `**` as a whole segment matching zero
/// or more segments, and `{a,b}` alternatives.
pub fn doublestar_match(pattern: &str, path: &str) -> Result<bool, BadPattern> {
    for p in expand_braces(pattern) {
        let pat_segs: Vec<&str> = p.split('/').collect();
        let path_segs: Vec<&str> = path.split('/').collect();
        for seg in &pat_segs {
            if *seg != "**" {
                validate(&seg.chars().collect::<Vec<_>>())?;
            }
        }
        if segs_match(&pat_segs, &path_segs) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn segs_match(p: &[&str], n: &[&str]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some(&"**") => (0..=n.len()).any(|skip| segs_match(&p[1..], &n[skip..])),
        Some(seg) => {
            !n.is_empty() && path_match(seg, n[0]).unwrap_or(false) && segs_match(&p[1..], &n[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match() {
        assert_eq!(path_match("*", "app1"), Ok(true));
        assert_eq!(path_match("*", "p1/app2"), Ok(false));
        assert_eq!(path_match("*/*", "p1/app2"), Ok(true));
        assert_eq!(path_match("**", "p1/app2"), Ok(false));
        assert_eq!(path_match("a?c", "abc"), Ok(true));
        assert_eq!(path_match("[a-c]x", "bx"), Ok(true));
        assert_eq!(path_match("[^a-c]x", "bx"), Ok(false));
        assert_eq!(path_match("[", "a"), Err(BadPattern));
        assert_eq!(path_match("apps/*-prod", "apps/web-prod"), Ok(true));
    }

    #[test]
    fn doublestar() {
        assert_eq!(
            doublestar_match("**/*.yaml", "path/dir/file_name.yaml"),
            Ok(true)
        );
        assert_eq!(doublestar_match("**/*.yaml", "top.yaml"), Ok(true));
        assert_eq!(
            doublestar_match(
                "cluster-config/**/config.json",
                "cluster-config/a/b/config.json"
            ),
            Ok(true)
        );
        assert_eq!(doublestar_match("*.yaml", "a/b.yaml"), Ok(false));
        assert_eq!(doublestar_match("{a,b}/*.json", "b/x.json"), Ok(true));
    }
}
