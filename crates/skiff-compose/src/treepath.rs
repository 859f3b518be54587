//! Paths into the tree (`services.web.ports.[]`) and Compose's patterns over them, where `*`
//! matches any one element.
//!
//! The phases walk every node with its path, so a path costs nothing to extend: each step is
//! a value on the walker's stack that borrows its parent (no allocation, no copy). The rule
//! tables the phases look paths up in are compiled once into [`Compiled`]: by length, then by
//! the last part, so a lookup compares a handful of candidates, not the whole table.

use std::collections::HashMap;

/// The path from the root to a node; list elements are `[]`. Borrows its parent: made with
/// [`TreePath::next`] on the way down a walk, never stored.
#[derive(Debug, Clone, Copy)]
pub struct TreePath<'a> {
    parent: Option<&'a TreePath<'a>>,
    part: &'a str,
    len: usize,
}

impl Default for TreePath<'_> {
    fn default() -> Self {
        TreePath::root()
    }
}

impl<'a> TreePath<'a> {
    #[must_use]
    pub fn root() -> TreePath<'static> {
        TreePath {
            parent: None,
            part: "",
            len: 0,
        }
    }

    /// The path one step down.
    #[must_use]
    pub fn next<'b>(&'b self, part: &'b str) -> TreePath<'b>
    where
        'a: 'b,
    {
        TreePath {
            parent: Some(self),
            part,
            len: self.len + 1,
        }
    }

    /// The parts from the leaf up to the root.
    fn up(&self) -> impl Iterator<Item = &'a str> + '_ {
        let mut at = Some(self);
        std::iter::from_fn(move || {
            let p = at.filter(|p| p.len > 0)?;
            at = p.parent;
            Some(p.part)
        })
    }

    /// Whether the path matches a dotted pattern such as `services.*.ports`.
    #[must_use]
    pub fn matches(&self, pattern: &str) -> bool {
        let parts = pattern.bytes().filter(|b| *b == b'.').count() + 1;
        parts == self.len
            && pattern
                .rsplit('.')
                .zip(self.up())
                .all(|(p, part)| p == "*" || p == part)
    }

    /// The parts from the root.
    #[must_use]
    pub fn parts(&self) -> Vec<&'a str> {
        let mut out: Vec<&str> = self.up().collect();
        out.reverse();
        out
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq for TreePath<'_> {
    fn eq(&self, other: &TreePath<'_>) -> bool {
        self.len == other.len && self.up().eq(other.up())
    }
}

impl Eq for TreePath<'_> {}

impl std::fmt::Display for TreePath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.parts().join("."))
    }
}

/// A table of `(pattern, value)` rules compiled for lookup; the first rule of the table that
/// matches a path wins, as a scan of the table in order would decide.
#[derive(Debug)]
pub struct Compiled<T> {
    rules: Vec<Rule<T>>,
    /// By path length: the rules of that length.
    by_len: Vec<Bucket>,
}

#[derive(Debug)]
struct Rule<T> {
    /// The parts from the leaf up.
    up: Vec<&'static str>,
    value: T,
}

#[derive(Debug, Default)]
struct Bucket {
    /// By last part: the rules ending in it or in `*`, in table order.
    by_last: HashMap<&'static str, Vec<usize>>,
    /// The rules ending in `*`, in table order (for a last part no rule names).
    wild: Vec<usize>,
}

impl<T: Copy> Compiled<T> {
    #[must_use]
    pub fn new(table: &[(&'static str, T)]) -> Compiled<T> {
        let rules: Vec<Rule<T>> = table
            .iter()
            .map(|(p, v)| Rule {
                up: p.rsplit('.').collect(),
                value: *v,
            })
            .collect();
        let longest = rules.iter().map(|r| r.up.len()).max().unwrap_or(0);
        let mut by_len: Vec<Bucket> = (0..=longest).map(|_| Bucket::default()).collect();
        for (i, r) in rules.iter().enumerate() {
            let bucket = &mut by_len[r.up.len()];
            if r.up[0] == "*" {
                bucket.wild.push(i);
                for list in bucket.by_last.values_mut() {
                    list.push(i);
                }
            } else {
                let wild = bucket.wild.clone();
                bucket.by_last.entry(r.up[0]).or_insert(wild).push(i);
            }
        }
        Compiled { rules, by_len }
    }

    /// The value of the first rule whose pattern matches the path.
    #[must_use]
    pub fn find(&self, path: &TreePath<'_>) -> Option<T> {
        let bucket = self.by_len.get(path.len)?;
        let candidates = bucket.by_last.get(path.part).unwrap_or(&bucket.wild);
        candidates.iter().map(|&i| &self.rules[i]).find_map(|r| {
            r.up.iter()
                .zip(path.up())
                .all(|(p, part)| *p == "*" || *p == part)
                .then_some(r.value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(parts: &[&str], f: &mut dyn FnMut(&TreePath<'_>)) {
        fn go(at: &TreePath<'_>, rest: &[&str], f: &mut dyn FnMut(&TreePath<'_>)) {
            match rest.split_first() {
                None => f(at),
                Some((first, rest)) => go(&at.next(first), rest, f),
            }
        }
        go(&TreePath::root(), parts, f);
    }

    #[test]
    fn patterns_match_whole_paths() {
        path(&["services", "web", "ports"], &mut |p| {
            assert!(p.matches("services.*.ports"));
            assert!(!p.matches("services.*"));
            assert!(!p.matches("services.*.ports.*"));
            assert_eq!(p.to_string(), "services.web.ports");
        });
        path(&["services", "web", "ports", "[]"], &mut |p| {
            assert!(p.matches("services.*.ports.*"));
        });
    }

    const TABLE: &[(&str, u8)] = &[
        ("services.*", 1),
        ("services.*.ports", 2),
        ("services.*.*", 3),
        ("services.web.ports", 4),
        ("volumes.*.labels", 5),
        ("*.*.labels", 6),
    ];

    #[test]
    fn compiled_rules_decide_as_a_scan_in_order() {
        let compiled = Compiled::new(TABLE);
        let cases: &[&[&str]] = &[
            &["services"],
            &["services", "web"],
            &["services", "web", "ports"],
            &["services", "web", "expose"],
            &["volumes", "data", "labels"],
            &["networks", "n", "labels"],
            &["networks", "n", "driver"],
            &["services", "web", "ports", "[]"],
            &[],
        ];
        for parts in cases {
            path(parts, &mut |p| {
                let scan = TABLE
                    .iter()
                    .find(|(pat, _)| p.matches(pat))
                    .map(|(_, v)| *v);
                assert_eq!(compiled.find(p), scan, "{p}");
            });
        }
    }
}
