//! What this machine has: the CPUs this process may use and the memory the kernel reports.

/// Why the host's memory could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FactsError {
    #[error("cannot read /proc/meminfo: {0}")]
    #[diagnostic(help("pass the host's memory with --host-memory (e.g. 32GiB)"))]
    Meminfo(std::io::Error),
    #[error("/proc/meminfo has no MemTotal line")]
    #[diagnostic(help("pass the host's memory with --host-memory (e.g. 32GiB)"))]
    NoMemTotal,
}

/// The CPUs this process may run on (its affinity and cgroup quota, as the standard library
/// reads them); 1 when they cannot be read.
#[must_use]
pub fn cpus() -> f64 {
    let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The memory of this machine in bytes, from /proc/meminfo.
///
/// # Errors
/// The file cannot be read or has no `MemTotal` line.
pub fn memory() -> Result<u64, FactsError> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(FactsError::Meminfo)?;
    mem_total(&meminfo).ok_or(FactsError::NoMemTotal)
}

/// `MemTotal:       24576000 kB` -> bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_reads_kilobytes() {
        assert_eq!(
            mem_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            Some(24_576_000 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: 12 MB\n"), None);
    }
}
