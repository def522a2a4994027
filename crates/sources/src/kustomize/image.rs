//! The `images` transformer and image references.

use serde_json::Value;

use super::{Item, KustomizeError, invalid};

/// An image reference split into name, tag and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry and repository (`ghcr.io/org/web`).
    pub name: String,
    /// Tag, without the `:`.
    pub tag: Option<String>,
    /// Digest, without the `@`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `name[:tag][@digest]` (a `:` before the last `/` is a registry port).
    pub fn parse(image: &str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[slash..].rfind(':') {
            Some(i) => ImageRef {
                name: rest[..slash + i].to_string(),
                tag: Some(rest[slash + i + 1..].to_string()),
                digest,
            },
            None => ImageRef {
                name: rest.to_string(),
                tag: None,
                digest,
            },
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

struct Rule {
    name: String,
    new_name: Option<String>,
    new_tag: Option<String>,
    digest: Option<String>,
}

fn scalar(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn apply_images(
    items: &mut [Item],
    images: &Value,
    file: &str,
) -> Result<(), KustomizeError> {
    let list = images
        .as_array()
        .ok_or_else(|| invalid(file, "images must be a list"))?;
    let mut rules = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let o = e
            .as_object()
            .ok_or_else(|| invalid(file, format!("images[{i}] must be a mapping")))?;
        for key in o.keys() {
            if !["name", "newName", "newTag", "digest"].contains(&key.as_str()) {
                return Err(KustomizeError::Unsupported {
                    file: file.into(),
                    field: format!("images[{i}].{key}"),
                });
            }
        }
        rules.push(Rule {
            name: scalar(o.get("name"))
                .ok_or_else(|| invalid(file, format!("images[{i}]: name is required")))?,
            new_name: scalar(o.get("newName")),
            new_tag: scalar(o.get("newTag")),
            digest: scalar(o.get("digest")),
        });
    }
    for item in items.iter_mut() {
        walk(&mut item.manifest, &rules, false);
    }
    Ok(())
}

fn walk(v: &mut Value, rules: &[Rule], in_containers: bool) {
    match v {
        Value::Object(m) => {
            if in_containers && let Some(Value::String(image)) = m.get_mut("image") {
                rewrite(image, rules);
            }
            for (k, child) in m.iter_mut() {
                let containers = matches!(
                    k.as_str(),
                    "containers" | "initContainers" | "ephemeralContainers"
                );
                walk(child, rules, containers && child.is_array());
            }
        }
        Value::Array(a) => {
            for child in a {
                walk(child, rules, in_containers);
            }
        }
        _ => {}
    }
}

fn rewrite(image: &mut String, rules: &[Rule]) {
    let mut r = ImageRef::parse(image);
    let Some(rule) = rules.iter().find(|rule| rule.name == r.name) else {
        return;
    };
    if let Some(n) = &rule.new_name {
        r.name = n.clone();
    }
    if let Some(t) = &rule.new_tag {
        r.tag = Some(t.clone());
        r.digest = None;
    }
    if let Some(d) = &rule.digest {
        r.digest = Some(d.clone());
        if rule.new_tag.is_none() {
            r.tag = None;
        }
    }
    *image = r.to_string();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_ports_tags_and_digests() {
        let r = ImageRef::parse("localhost:5000/org/web:1.2@sha256:abc");
        assert_eq!(r.name, "localhost:5000/org/web");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        assert_eq!(r.to_string(), "localhost:5000/org/web:1.2@sha256:abc");
        assert_eq!(ImageRef::parse("nginx").tag, None);
    }
}
