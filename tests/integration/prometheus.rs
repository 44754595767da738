//! Prometheus: the alerting rules in deploy/prometheus/ with their `promtool test rules` unit tests, and Debian's
//! prometheus-node-exporter, started by the test on loopback, serving the textfile `nvfix check` wrote.

use crate::harness::{fixture, nvfix};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus")
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| panic!("promtool is needed (Debian package `prometheus`): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn alerting_rules_pass_their_promtool_unit_tests() {
    let (ok, text) = promtool(&["check", "rules", "nvfix-rules.yaml"]);
    assert!(ok && text.contains("SUCCESS: 4 rules found"), "{text}");
    let (ok, text) = promtool(&["test", "rules", "nvfix-rules.test.yaml"]);
    assert!(ok, "{text}");
    // The control: the same tests against a rule that fires too early fail.
    let t = tempfile::tempdir().unwrap();
    let rules = std::fs::read_to_string(rules_dir().join("nvfix-rules.yaml")).unwrap();
    std::fs::write(
        t.path().join("nvfix-rules.yaml"),
        rules.replacen("for: 5m", "for: 1m", 1),
    )
    .unwrap();
    std::fs::copy(
        rules_dir().join("nvfix-rules.test.yaml"),
        t.path().join("t.yaml"),
    )
    .unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", "t.yaml"])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The exporter, stopped (SIGKILL, then reaped) when the test ends, passed or failed.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

#[test]
fn node_exporter_on_loopback_serves_the_check_textfile() {
    let textfiles = tempfile::tempdir().unwrap();
    let prom = textfiles.path().join("nvfix.prom");
    let run = nvfix(
        &fixture("incident"),
        &[
            "check",
            "--format",
            "prometheus",
            "--output",
            prom.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let port = free_loopback_port();
    let child = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!(
            "--collector.textfile.directory={}",
            textfiles.path().display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("prometheus-node-exporter is needed (Debian package of that name): {e}")
        });
    let mut exporter = Exporter(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        match get(port, "/metrics") {
            Ok(b) if b.contains("200 OK") => break b,
            _ if Instant::now() < deadline => {
                if let Ok(Some(status)) = exporter.0.try_wait() {
                    let mut err = String::new();
                    exporter
                        .0
                        .stderr
                        .take()
                        .unwrap()
                        .read_to_string(&mut err)
                        .unwrap();
                    panic!("node exporter exited ({status}): {err}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            other => panic!("node exporter did not answer on 127.0.0.1:{port}: {other:?}"),
        }
    };
    assert!(
        body.contains("nvfix_verdict{verdict=\"version-mismatch\"} 1"),
        "{body}"
    );
    assert!(body.contains("nvfix_action{action=\"reload\"} 1"), "{body}");
    assert!(
        body.contains("nvfix_loaded_driver_info{version=\"580.65.06\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("nvfix_last_check_timestamp_seconds "),
        "{body}"
    );
    assert!(
        body.contains("node_textfile_scrape_error 0"),
        "the textfile parses: {body}"
    );
}
