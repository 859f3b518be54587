//! Loader errors as miette reports: file, line, column, an excerpt of the source, and a hint
//! (built by the loader's own [`skiff_compose::diagnostic`], so the fuzz target renders what
//! users see).

pub use skiff_compose::diagnostic::report;
