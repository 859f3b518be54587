//! skiff's domain types.
//!
//! `compose` mirrors the Compose specification's project model (what `docker compose config`
//! prints); `xskiff` is skiff's own extension. Nothing here does I/O.
pub mod compose;
pub mod xskiff;
