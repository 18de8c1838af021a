//! Helpers for end-to-end tests: run the real binary, serve a data dir,
//! speak raw HTTP to it.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// The binary under test.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_marketpipe"));
    // Warnings only, unless `MARKETPIPE_TEST_LOG` asks for more (to see what
    // the processes of a failing test did).
    let log = std::env::var("MARKETPIPE_TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
    c.env_remove("MARKETPIPE_DATA_DIR").env_remove("MARKETPIPE_CONFIG").env("MARKETPIPE_LOG", log);
    c
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/bench/gen_capture.py`, which CI provides beside the clone.
pub fn gen_capture() -> PathBuf {
    let p = repo().join("../shared/bench/gen_capture.py");
    assert!(p.is_file(), "{} is missing: the tests need the shared folder beside the repository", p.display());
    p
}

/// Runs a command to success, returning stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Writes a Coinbase capture with the shared generator.
pub fn generate(dir: &Path, seed: u64, frames: u64, symbols: u32, hours: f64) -> PathBuf {
    generate_for("coinbase", dir, seed, frames, symbols, hours)
}

/// Writes a capture of `exchange` (`coinbase` or `binance`) with the shared generator.
pub fn generate_for(exchange: &str, dir: &Path, seed: u64, frames: u64, symbols: u32, hours: f64) -> PathBuf {
    let out = dir.join(format!("{exchange}-{seed}.jsonl"));
    run(Command::new("python3")
        .arg(gen_capture())
        .args(["--exchange", exchange, "--seed", &seed.to_string()])
        .args(["--frames", &frames.to_string(), "--symbols", &symbols.to_string(), "--hours", &hours.to_string(), "--out"])
        .arg(&out));
    out
}

/// `marketpipe replay`, returning the JSON summary.
pub fn replay(captures: &[&Path], data_dir: &Path) -> serde_json::Value {
    let summary = data_dir.with_extension("summary.json");
    run(bin().arg("replay").args(captures).arg("--data-dir").arg(data_dir).arg("--summary-json").arg(&summary));
    serde_json::from_slice(&std::fs::read(&summary).expect("summary written")).expect("summary is JSON")
}

/// Every table the store in `data` holds, as text, in key order.
pub fn dump(data: &Path) -> String {
    let db = rusqlite::Connection::open(data.join("marketpipe.db")).unwrap();
    let mut out = String::new();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(tables.iter().any(|t| t == "candles"), "{tables:?}");
    for table in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3, 4")).unwrap();
        let n = stmt.column_count();
        let rows =
            stmt.query_map([], |r| Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))).unwrap();
        out.push_str(&format!("== {table}\n"));
        for row in rows {
            out.push_str(&row.unwrap());
            out.push('\n');
        }
    }
    out
}

/// A running `marketpipe serve`, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Server {
    /// Serves `data_dir` on a free loopback port.
    pub fn start(data_dir: &Path) -> Server {
        let mut child = bin()
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).expect("serve prints its address");
        let url = line.trim().rsplit(' ').next().expect("url at end of line").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line {line:?}");
        let addr = url.trim_start_matches("http://").to_string();
        Server { child, url, addr }
    }

    /// Sends a raw request line (anything, even invalid) and returns (status, body).
    pub fn raw(&self, method: &str, target: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        // One write, and a failed one tolerated: for an invalid request line
        // the server may answer 400 and close before reading the rest, and
        // that answer is what the test wants.
        let request = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.addr);
        let _ = s.write_all(request.as_bytes());
        let mut resp = Vec::new();
        // A reset after the answer was sent still leaves the answer read.
        let _ = s.read_to_end(&mut resp);
        let text = String::from_utf8_lossy(&resp).into_owned();
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    /// GET returning parsed JSON, asserting 200.
    pub fn get(&self, target: &str) -> serde_json::Value {
        let (status, body) = self.raw("GET", target);
        assert_eq!(status, 200, "GET {target} -> {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {target}: body is not JSON ({e}): {body}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the independent checker against a server.
pub fn verify(server: &Server, captures: &[&Path]) -> String {
    run(Command::new("python3").arg(repo().join("scripts/verify_capture.py")).args(["--api", &server.url]).args(captures))
}

/// A child process whose stdout lines arrive on a channel; killed on drop.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(cmd: &mut std::process::Command) -> Proc {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("process starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// The next stdout line containing `needle`, within 30 s.
    pub fn line_with(&self, needle: &str) -> String {
        self.line_within(needle, Duration::from_secs(30))
    }

    /// The next stdout line containing `needle`, within `within`.
    pub fn line_within(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(e) => panic!("no line with {needle:?} on stdout: {e}"),
            }
        }
    }

    /// Sends SIGINT and waits for the exit, returning it and how long it took.
    pub fn interrupt(&mut self) -> (ExitStatus, Duration) {
        self.signal("-INT")
    }

    /// Sends `signal` (`-INT`, `-TERM`) and waits for the exit.
    pub fn signal(&mut self, signal: &str) -> (ExitStatus, Duration) {
        let started = Instant::now();
        run(std::process::Command::new("kill").args([signal, &self.child.id().to_string()]));
        let status = exit_within(&mut self.child, Duration::from_secs(20)).unwrap_or_else(|| panic!("process ignored {signal}"));
        (status, started.elapsed())
    }
}

/// The child's exit status once it exits, or `None` if it is still running
/// after `within`.
pub fn exit_within(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last word of a line (`... http://127.0.0.1:PORT` → the URL).
pub fn last_word(line: &str) -> String {
    line.split_whitespace().last().expect("a word").to_owned()
}

/// The word after `key` in `line` (`... rest http://... ` → the URL).
pub fn word_after(line: &str, key: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    words.by_ref().find(|w| *w == key)?;
    words.next().map(str::to_owned)
}

/// The binary with the AWS environment pointing at `endpoint` (moto takes
/// any credentials).
pub fn bin_s3(endpoint: &str) -> Command {
    let mut c = bin();
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "marketpipe-test")
        .env("AWS_SECRET_ACCESS_KEY", "marketpipe-test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true");
    c
}

/// Creates a bucket unique to this process with a plain HTTP PUT (moto
/// needs no signature for it).
pub fn create_bucket(endpoint: &str, name: &str) -> String {
    let bucket = format!("mp-e2e-{}-{name}", std::process::id());
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket {bucket}: {resp}");
    bucket
}
