//! The one-command local cluster: `lodestar-local` starts all five services, they become
//! healthy, and Ctrl-C stops every one of them within 5 s, leaving nothing running.

mod common;

use lodestar_integration_tests::{bin_command, http_get, try_http_get};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

const BASE_PORTS: [u16; 11] = [
    5080, 6080, 5081, 6081, 5082, 6082, 9080, 7080, 8081, 7070, 8080,
];
const MORE_PORTS: [u16; 2] = [7090, 7091];

fn ports_free(offset: u16) -> bool {
    BASE_PORTS
        .iter()
        .chain(MORE_PORTS.iter())
        .chain([7071u16].iter())
        .all(|p| std::net::TcpListener::bind(("127.0.0.1", p + offset)).is_ok())
}

/// Command lines of the processes that mention any of `needles`.
fn processes_mentioning(needles: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if needles.iter().any(|n| cmdline.contains(n.as_str())) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// Stops the launcher (and so every service it started) if the test fails before it does.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.0 as i32);
        if kill(pid, Signal::SIGTERM).is_ok() {
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(100));
                if kill(pid, None).is_err() {
                    return;
                }
            }
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_everything_and_ctrl_c_stops_everything() {
    // Every shifted port stays below the kernel's ephemeral range (32768 and up), where the other
    // tests' free ports and every outgoing connection's local port come from.
    let offset = (0..200)
        .map(|_| 10_000 + (rand::random::<u16>() % 1_300) * 10)
        .find(|o| ports_free(*o))
        .expect("a free port range");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = bin_command("lodestar-local")
        .args([
            "--data",
            common::path(&data),
            "--zeros",
            "3",
            "--port_offset",
            &offset.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn launcher");
    let guard = StopOnDrop(child.id());

    // The launcher says it is up, then every service answers its health check.
    let stdout = child.stdout.take().unwrap();
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let printed = printed.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut p = printed.lock().unwrap();
                p.push_str(&line);
                p.push('\n');
            }
        })
    };
    let health = [6080, 6081, 6082, 8081, 7071, 7091, 8080]
        .map(|p| format!("http://127.0.0.1:{}/health", p + offset));
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut healthy = false;
    while Instant::now() < deadline && !healthy {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use std::io::Read;
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("launcher exited early ({status}): {err}");
        }
        let mut all = true;
        for url in &health {
            if !matches!(try_http_get(url).await, Ok((200, _))) {
                all = false;
                break;
            }
        }
        healthy = all && printed.lock().unwrap().contains("Lodestar is up");
        if !healthy {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(healthy, "not every service became healthy");
    let (status, body) = http_get(&format!("http://127.0.0.1:{}/state", 8080 + offset)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        common::json(&body)["zeros"].as_object().map(|z| z.len()),
        Some(3),
        "{body}"
    );
    // The data directory names the launcher, zeros, alpha and backup worker; auth and the
    // gateway hold no data and are found by their ports.
    let needles = [
        common::path(&data).to_string(),
        format!("--http_port {}", 7071 + offset),
        format!("--http_port {}", 8080 + offset),
    ];
    let running = processes_mentioning(&needles);
    assert_eq!(
        running.len(),
        8,
        "expected 7 services + launcher, found {running:?}"
    );
    // Every service got the cluster secret the launcher made, and zero refuses outsiders.
    let secret = data.join(lodestar_integration_tests::CLUSTER_SECRET_FILE);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let services: Vec<&String> = running
        .iter()
        .filter(|p| !p.contains("lodestar-local"))
        .collect();
    assert_eq!(services.len(), 7, "{running:?}");
    for p in services {
        assert!(p.contains("--cluster_secret_file"), "{p}");
    }
    let mut zero = lodestar_proto::zero::zero_client::ZeroClient::new(
        lodestar_client::channel(&format!("127.0.0.1:{}", 5080 + offset)).unwrap(),
    );
    let err = zero
        .set_draining(lodestar_proto::zero::DrainingRequest { enable: true })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");

    // Ctrl-C.
    let stopped_at = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(8),
            "launcher still running 8 s after Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Reaped: its pid may be reused now, so the guard must not signal it.
    std::mem::forget(guard);
    let took = stopped_at.elapsed();
    let output = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "launcher exited {status:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(took < Duration::from_secs(6), "stopping took {took:?}");
    reader.join().unwrap();
    let stdout = printed.lock().unwrap().clone();
    assert!(
        stdout.contains(&format!("localhost:{}/admin", 8080 + offset)),
        "endpoints not printed: {stdout}"
    );
    let left = processes_mentioning(&needles);
    assert!(left.is_empty(), "still running after Ctrl-C: {left:?}");
}
