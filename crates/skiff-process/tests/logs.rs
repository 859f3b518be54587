//! Output capture: timestamps, streams, rotation, reading back, following.

mod common;

use std::time::{Duration, SystemTime};

use common::{Sandbox, id};
use skiff_process::logs::{Follower, read_logs};
use skiff_process::{Exit, LogFile, LogQuery, Logs, Process, Stream};

#[tokio::test]
async fn lines_are_captured_with_time_and_stream() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh(
        "web",
        "echo 'out one'; sleep 0.05; echo 'err one' >&2; sleep 0.05; echo; printf 'no newline'",
    );
    let before = SystemTime::now();
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    assert_eq!(process.wait().await.unwrap(), Exit::Code(0));
    let after = SystemTime::now();

    let lines = read_logs(&sandbox.log_path("web"), &LogQuery::default()).unwrap();
    let got: Vec<(Stream, &str)> = lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
    assert_eq!(
        got,
        [
            (Stream::Stdout, "out one"),
            (Stream::Stderr, "err one"),
            (Stream::Stdout, ""),
            (Stream::Stdout, "no newline"),
        ]
    );
    assert!(lines.iter().all(|l| before <= l.time && l.time <= after));
    assert!(lines.windows(2).all(|w| w[0].time <= w[1].time));

    // On disk: `<RFC 3339 UTC with nanoseconds> <stream> <text>`.
    let raw = std::fs::read_to_string(sandbox.log_path("web")).unwrap();
    let first = raw.lines().next().unwrap();
    let (time, rest) = first.split_once(' ').unwrap();
    assert_eq!(rest, "stdout out one");
    assert_eq!(time.len(), "2025-01-01T00:00:00.000000000Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    assert_eq!(lines[0].timestamp(), time);
}

#[tokio::test]
async fn files_rotate_by_size_and_keep_the_newest() {
    let sandbox = Sandbox::new();
    let mut spec = sandbox.sh(
        "web",
        "i=0; while [ $i -lt 200 ]; do echo \"line $i padding-padding-padding\"; i=$((i+1)); done",
    );
    let path = sandbox.log_path("web");
    spec.logs = Logs::File(LogFile {
        path: path.clone(),
        max_size: 1000,
        keep: 2,
    });
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    assert_eq!(process.wait().await.unwrap(), Exit::Code(0));

    let rotated = |n: u32| path.with_extension(format!("log.{n}"));
    assert!(path.exists() && rotated(1).exists() && rotated(2).exists());
    assert!(!rotated(3).exists(), "only 2 rotated files are kept");
    for file in [path.clone(), rotated(1), rotated(2)] {
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size > 0 && size <= 1000, "{}: {size}", file.display());
    }
    // What is left is the newest lines, in order, without gaps.
    let numbers: Vec<u32> = read_logs(&path, &LogQuery::default())
        .unwrap()
        .iter()
        .map(|l| l.text.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers.last(), Some(&199));
    assert!(
        numbers.len() > 20 && numbers.len() < 200,
        "{}",
        numbers.len()
    );
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
}

#[tokio::test]
async fn reading_selects_since_until_and_tail() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh("web", "for i in 1 2 3 4 5; do echo $i; sleep 0.02; done");
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    process.wait().await.unwrap();
    let path = sandbox.log_path("web");
    let all = read_logs(&path, &LogQuery::default()).unwrap();
    let texts = |q: LogQuery| -> Vec<String> {
        read_logs(&path, &q)
            .unwrap()
            .into_iter()
            .map(|l| l.text)
            .collect()
    };

    assert_eq!(
        texts(LogQuery {
            since: Some(all[2].time),
            ..LogQuery::default()
        }),
        ["3", "4", "5"]
    );
    assert_eq!(
        texts(LogQuery {
            until: Some(all[2].time),
            ..LogQuery::default()
        }),
        ["1", "2"]
    );
    assert_eq!(
        texts(LogQuery {
            tail: Some(2),
            ..LogQuery::default()
        }),
        ["4", "5"]
    );
    assert!(
        read_logs(&sandbox.path().join("none.log"), &LogQuery::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_follower_returns_new_lines_across_rotations() {
    let sandbox = Sandbox::new();
    let path = sandbox.log_path("web");
    // Opened before the file exists: it waits for it.
    let mut follower = Follower::open(&path, &LogQuery::default())
        .unwrap()
        .poll_every(Duration::from_millis(10));
    let mut spec = sandbox.sh(
        "web",
        "i=0; while [ $i -lt 30 ]; do echo \"n $i\"; i=$((i+1)); sleep 0.03; done; exec sleep 300",
    );
    // About 40 bytes a line: a rotation every 5 lines, more often than the follower polls
    // twice.
    spec.logs = Logs::File(LogFile {
        path: path.clone(),
        max_size: 200,
        keep: 10,
    });
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());

    let mut seen = Vec::new();
    for _ in 0..30 {
        let line = tokio::time::timeout(Duration::from_secs(5), follower.next())
            .await
            .expect("a line within 5 s")
            .unwrap();
        seen.push(line.text);
    }
    let expected: Vec<String> = (0..30).map(|i| format!("n {i}")).collect();
    assert_eq!(seen, expected);
    assert!(path.with_extension("log.3").exists(), "it did rotate");
    process.stop().await.unwrap();
}

#[tokio::test]
async fn a_follower_can_start_from_the_tail() {
    let sandbox = Sandbox::new();
    let path = sandbox.log_path("web");
    let spec = sandbox.sh(
        "web",
        "echo a; echo b; echo c; while [ ! -e go ]; do sleep 0.01; done; echo d",
    );
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    assert!(
        common::eventually(Duration::from_secs(5), || {
            read_logs(&path, &LogQuery::default()).unwrap().len() == 3
        })
        .await
    );

    let mut follower = Follower::open(
        &path,
        &LogQuery {
            tail: Some(1),
            ..LogQuery::default()
        },
    )
    .unwrap()
    .poll_every(Duration::from_millis(10));
    assert_eq!(follower.next().await.unwrap().text, "c");
    std::fs::write(sandbox.path().join("go"), "").unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), follower.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.text, "d");
    assert_eq!(process.wait().await.unwrap(), Exit::Code(0));
}

#[tokio::test]
async fn output_survives_restarts_in_one_file() {
    let sandbox = Sandbox::new();
    let spec = sandbox.sh("web", "echo run");
    for _ in 0..3 {
        let mut process = Process::spawn(&id("web"), &spec).unwrap();
        sandbox.reap(process.pid());
        process.wait().await.unwrap();
    }
    let lines = read_logs(&sandbox.log_path("web"), &LogQuery::default()).unwrap();
    assert_eq!(lines.len(), 3);
}

#[tokio::test]
async fn long_lines_are_cut_not_buffered_without_end() {
    let sandbox = Sandbox::new();
    // 100 000 bytes without a newline, then a short line.
    let spec = sandbox.sh(
        "web",
        "head -c 100000 /dev/zero | tr '\\0' x; echo; echo short",
    );
    let mut process = Process::spawn(&id("web"), &spec).unwrap();
    sandbox.reap(process.pid());
    process.wait().await.unwrap();
    let lines = read_logs(&sandbox.log_path("web"), &LogQuery::default()).unwrap();
    let lengths: Vec<usize> = lines.iter().map(|l| l.text.len()).collect();
    assert_eq!(lengths, [65536, 100_000 - 65536, 5]);
}
