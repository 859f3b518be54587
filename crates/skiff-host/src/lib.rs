//! One stack on this host, over both runtimes: what the binary's commands and the daemon run
//! here, without a terminal.
//!
//! - [`stack`]: the stack as loaded, split by runtime ([`stack::Stack`], [`stack::StackSource`],
//!   how processes and containers reach each other).
//! - [`hybrid`]: the composite [`skiff_runtime::Runtime`] over skiff-docker and skiff-process.
//! - [`backup`]: the host side of backups (volumes paused, `docker exec`, the database
//!   container found) and the daemon's scheduled runs, as history events.
//! - [`backup_timers`]: when backups and drills run and when a backup is stale (pure).
//! - [`logs`]: the stack's output, containers' and processes' merged in time order.
//! - [`ps`]: the rows `skiff ps` lists, containers' and processes'.
//! - [`split`]: a `Runtime` over two `Runtime`s (the routing, moves between them; pure).
//! - [`jobs`]: the daemon's runs of `x-skiff.jobs` (and `skiff jobs run`).
//!
//! Errors are `thiserror` values; the binary renders them.

pub mod backup;
pub mod backup_timers;
pub mod facts;
pub mod history;
pub mod hybrid;
pub mod jobs;
pub mod logs;
pub mod ps;
pub mod split;
pub mod stack;
pub mod supervision;
pub mod world;
