//! What the kernel says about processes, read from `/proc`.

use std::io;

/// The fields of `/proc/<pid>/stat` that skiff needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    /// Clock ticks since boot when the process was forked: with the pid, it names one
    /// process for the life of the machine (a reused pid gets another start time).
    pub start_time: u64,
}

impl Stat {
    /// Whether the process still runs code (a zombie is only waiting to be reaped).
    pub fn is_live(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// The stat of a process, or `None` when there is no such process.
pub(crate) fn stat(pid: i32) -> io::Result<Option<Stat>> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => parse_stat(&text)
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected stat format")),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc_esrch()) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// ESRCH: reading the stat of a process that died between `open` and `read`.
fn libc_esrch() -> i32 {
    nix::errno::Errno::ESRCH as i32
}

/// Parses `pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
/// cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime ...`.
/// `comm` may hold spaces and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state); field n is fields[n - 3].
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let pgrp = fields.get(2)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        pgrp,
        start_time,
    })
}

/// This boot's id: start times count from boot, so a record from another boot names nothing.
pub(crate) fn boot_id() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_owned())
}

/// Whether `pid` is the live process that started at `start_time`.
pub(crate) fn is_same_process(pid: i32, start_time: u64) -> bool {
    matches!(stat(pid), Ok(Some(s)) if s.start_time == start_time && s.is_live())
}

/// The live (not zombie) members of process group `pgid`.
pub(crate) fn group_members(pgid: i32) -> Vec<i32> {
    // Cheap first: no process at all in the group.
    if nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_err() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| matches!(stat(*pid), Ok(Some(s)) if s.pgrp == pgid && s.is_live()))
        .collect()
}

/// Live descendants of the members of group `pgid` that left the group (`setsid`, as
/// PostgreSQL's server processes do), with their start times: the group's signals do not
/// reach them, so stopping the group looks after them by pid.
pub(crate) fn escaped_descendants(pgid: i32) -> Vec<(i32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let all: Vec<(i32, Stat)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, stat(pid).ok()??)))
        .filter(|(_, s)| s.is_live())
        .collect();
    let mut children: std::collections::HashMap<i32, Vec<(i32, Stat)>> =
        std::collections::HashMap::new();
    for (pid, s) in &all {
        children.entry(s.ppid).or_default().push((*pid, *s));
    }
    let mut todo: Vec<i32> = all
        .iter()
        .filter(|(_, s)| s.pgrp == pgid)
        .map(|(pid, _)| *pid)
        .collect();
    let mut out = Vec::new();
    while let Some(parent) = todo.pop() {
        for (pid, s) in children.get(&parent).into_iter().flatten() {
            if s.pgrp != pgid {
                out.push((*pid, s.start_time));
            }
            // Members are roots already; descend only through the escaped.
            if s.pgrp != pgid {
                todo.push(*pid);
            }
        }
    }
    out
}

/// The pid and start time of this process, for records naming their supervisor.
pub(crate) fn this_process() -> io::Result<(i32, u64)> {
    let pid = i32::try_from(std::process::id())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "pid out of range"))?;
    let stat =
        stat(pid)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no /proc/self"))?;
    Ok((pid, stat.start_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let text = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                    1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                state: 'S',
                ppid: 1,
                pgrp: 4242,
                start_time: 987_654,
            })
        );
        assert_eq!(parse_stat("1 (init) S 0"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_live_and_itself() {
        let (pid, start) = this_process().unwrap();
        assert!(is_same_process(pid, start));
        assert!(!is_same_process(pid, start + 1));
        assert!(!boot_id().unwrap().is_empty());
    }
}
