//! The test program skiff's real-engine and process tests run (std only, built static).
//!
//! HTTP on `$PORT` (default 8080):
//! - `GET /health`: 200 `ok`, or 503 once `/health/fail` was called (or `$UNHEALTHY` is set)
//! - `GET /crash`: exits with code 3 (after answering)
//! - `GET /write?name=N&value=V`: writes V to `$DATA_DIR/N` (default `/data`)
//! - `GET /read?name=N`: returns the file's contents
//! - `GET /env?name=N`: returns the variable's value
//! - anything else: 200 with the request line
//!
//! Every request is logged on stdout; SIGTERM and SIGINT make it exit 0 (even as PID 1) unless
//! `$IGNORE_SIGTERM` is set, so stop-timeout tests can see a kill. `skiff-testapp exit CODE` exits at once with CODE;
//! `skiff-testapp sleep SECS` sleeps; `skiff-testapp check URL-PATH` requests
//! `http://127.0.0.1:$PORT/PATH` and exits 0 on a 200 (a healthcheck without curl).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test program that logs"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static FAILING: AtomicBool = AtomicBool::new(false);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("exit") => std::process::exit(args.get(2).and_then(|c| c.parse().ok()).unwrap_or(0)),
        Some("sleep") => {
            let secs: u64 = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(3600);
            std::thread::sleep(Duration::from_secs(secs));
            return;
        }
        Some("check") => std::process::exit(check(args.get(2).map_or("health", String::as_str))),
        _ => {}
    }
    // As PID 1 in a container, SIGTERM's default action does not apply: exit on it explicitly,
    // unless the test wants a process that ignores it (IGNORE_SIGTERM).
    if std::env::var_os("IGNORE_SIGTERM").is_none()
        && let Ok(mut signals) = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
        ])
    {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                println!("received signal {sig}, exiting");
                std::process::exit(0);
            }
        });
    }
    if std::env::var_os("UNHEALTHY").is_some() {
        FAILING.store(true, Ordering::SeqCst);
    }
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {port}: {e}");
            std::process::exit(2);
        }
    };
    println!("listening on {port}");
    for stream in listener.incoming().flatten() {
        handle(stream);
    }
}

fn check(path: &str) -> i32 {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".to_owned());
    let Ok(mut s) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
        return 1;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let path = path.trim_start_matches('/');
    if s.write_all(format!("GET /{path} HTTP/1.0\r\n\r\n").as_bytes())
        .is_err()
    {
        return 1;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    i32::from(!buf.starts_with("HTTP/1.0 200"))
}

fn query<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    target
        .split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn handle(mut stream: TcpStream) {
    let mut line = String::new();
    if BufReader::new(&stream).read_line(&mut line).is_err() {
        return;
    }
    let line = line.trim_end().to_owned();
    println!("request: {line}");
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let path = target.split('?').next().unwrap_or("/");
    let data_dir = std::env::var("DATA_DIR").unwrap_or_else(|_| "/data".to_owned());
    let (status, body) = match path {
        "/health" if FAILING.load(Ordering::SeqCst) => (503, "failing".to_owned()),
        "/health" => (200, "ok".to_owned()),
        "/health/fail" => {
            FAILING.store(true, Ordering::SeqCst);
            (200, "now failing".to_owned())
        }
        "/crash" => (200, "crashing".to_owned()),
        "/write" => match (query(&target, "name"), query(&target, "value")) {
            (Some(n), Some(v)) => match std::fs::write(format!("{data_dir}/{n}"), v) {
                Ok(()) => (200, "written".to_owned()),
                Err(e) => (500, e.to_string()),
            },
            _ => (400, "name and value required".to_owned()),
        },
        "/read" => match query(&target, "name")
            .map(|n| std::fs::read_to_string(format!("{data_dir}/{n}")))
        {
            Some(Ok(v)) => (200, v),
            Some(Err(e)) => (404, e.to_string()),
            None => (400, "name required".to_owned()),
        },
        "/env" => match query(&target, "name").and_then(|n| std::env::var(n).ok()) {
            Some(v) => (200, v),
            None => (404, "unset".to_owned()),
        },
        _ => (200, line.clone()),
    };
    let _ = write!(
        stream,
        "HTTP/1.0 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    if path == "/crash" {
        println!("crashing on request");
        std::process::exit(3);
    }
}
