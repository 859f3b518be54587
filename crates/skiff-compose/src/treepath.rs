//! Paths into the tree (`services.web.ports.[]`) and Compose's patterns over them, where `*`
//! matches any one element.

/// The path from the root to a node; list elements are `[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreePath(Vec<String>);

impl TreePath {
    #[must_use]
    pub fn root() -> TreePath {
        TreePath(Vec::new())
    }

    #[must_use]
    pub fn of(parts: &[&str]) -> TreePath {
        TreePath(parts.iter().map(|s| (*s).to_owned()).collect())
    }

    #[must_use]
    pub fn next(&self, part: &str) -> TreePath {
        let mut v = self.0.clone();
        v.push(part.to_owned());
        TreePath(v)
    }

    /// Whether the path matches a dotted pattern such as `services.*.ports`.
    #[must_use]
    pub fn matches(&self, pattern: &str) -> bool {
        let mut n = 0;
        for (i, p) in pattern.split('.').enumerate() {
            n += 1;
            match self.0.get(i) {
                Some(part) if p == "*" || p == part => {}
                _ => return false,
            }
        }
        n == self.0.len()
    }

    #[must_use]
    pub fn parts(&self) -> &[String] {
        &self.0
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for TreePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_paths() {
        let p = TreePath::of(&["services", "web", "ports"]);
        assert!(p.matches("services.*.ports"));
        assert!(!p.matches("services.*"));
        assert!(!p.matches("services.*.ports.*"));
        assert!(TreePath::of(&["services", "web", "ports", "[]"]).matches("services.*.ports.*"));
    }
}
