//! skiff on this host, beside the stack's own instances. Today: [`jobs`], the daemon's runs
//! of `x-skiff.jobs` (and `skiff jobs run`). The stack itself (the composite runtime, the
//! daemon's world) still lives in the binary; issue 12 moves it here.

pub mod jobs;
