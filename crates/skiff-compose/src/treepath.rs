//! Paths into the tree (`services.web.ports.[]`) and Compose's patterns over them, where `*`
//! matches any one element.

use std::rc::Rc;

/// The path from the root to a node; list elements are `[]`. A shared list from the leaf up:
/// `next` is one allocation however deep the path, so the phases that walk every node with
/// its path copy nothing.
#[derive(Debug, Clone, Default)]
pub struct TreePath(Option<Rc<Link>>);

#[derive(Debug)]
struct Link {
    parent: Option<Rc<Link>>,
    part: Box<str>,
    len: usize,
}

impl TreePath {
    #[must_use]
    pub fn root() -> TreePath {
        TreePath(None)
    }

    #[must_use]
    pub fn of(parts: &[&str]) -> TreePath {
        parts.iter().fold(TreePath::root(), |p, part| p.next(part))
    }

    #[must_use]
    pub fn next(&self, part: &str) -> TreePath {
        TreePath(Some(Rc::new(Link {
            parent: self.0.clone(),
            part: part.into(),
            len: self.len() + 1,
        })))
    }

    /// Whether the path matches a dotted pattern such as `services.*.ports`.
    #[must_use]
    pub fn matches(&self, pattern: &str) -> bool {
        let parts = pattern.bytes().filter(|b| *b == b'.').count() + 1;
        if parts != self.len() {
            return false;
        }
        // From the leaf up: the last part tells most patterns apart.
        let mut link = self.0.as_deref();
        for p in pattern.rsplit('.') {
            let Some(l) = link else { return false };
            if p != "*" && p != &*l.part {
                return false;
            }
            link = l.parent.as_deref();
        }
        true
    }

    /// The parts from the root.
    #[must_use]
    pub fn parts(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.len());
        let mut link = self.0.as_deref();
        while let Some(l) = link {
            out.push(&*l.part);
            link = l.parent.as_deref();
        }
        out.reverse();
        out
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |l| l.len)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl PartialEq for TreePath {
    fn eq(&self, other: &TreePath) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for TreePath {}

impl std::fmt::Display for TreePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.parts().join("."))
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
