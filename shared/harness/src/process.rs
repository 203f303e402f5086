//! One service process: started from a real binary with fixed args, logging to a file, and
//! stopped by signal.

use crate::Service;
use anyhow::Context as _;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long [`Proc::stop`] waits for a process to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Proc::restart`] waits for a restarted process to become healthy.
pub const RESTART_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// How a process ended after [`Proc::stop`].
#[derive(Clone, Copy, Debug)]
pub struct Stopped {
    /// From the signal to the exit.
    pub took: Duration,
    pub status: ExitStatus,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exited ({}) {:.2} s after SIGTERM",
            self.status,
            self.took.as_secs_f64()
        )
    }
}

/// One service process of a cluster. The fields say how it was started; change `args` or `env`
/// before [`Proc::start`] to start it differently. Dropping a `Proc` SIGKILLs the process.
#[derive(Debug)]
pub struct Proc {
    /// `zero1`, `zero2`, …, `alpha`, `auth`, `backup-worker` or `gateway`.
    pub name: String,
    pub service: Service,
    /// The host the process is reached at (`127.0.0.1` unless bound elsewhere).
    pub host: String,
    /// The gRPC port (none for the gateway).
    pub grpc_port: Option<u16>,
    pub http_port: u16,
    /// The alpha's internal port.
    pub internal_port: Option<u16>,
    pub bin: PathBuf,
    pub args: Vec<String>,
    /// A command the binary runs under (`ip netns exec <ns>`): empty to run it directly.
    pub wrapper: Vec<String>,
    /// Extra environment for the process, on top of the caller's.
    pub env: Vec<(String, String)>,
    /// The working directory (the cluster directory).
    pub cwd: PathBuf,
    /// The process's own data directory, if it has one.
    pub data_dir: Option<PathBuf>,
    /// stdout and stderr of every run, appended.
    pub log_path: PathBuf,
    child: Option<Child>,
    last_exit: Option<ExitStatus>,
    /// Where the output of the current (or last) run starts in the log.
    run_offset: u64,
}

impl Proc {
    /// A process that is not started yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: impl Into<String>,
        service: Service,
        host: impl Into<String>,
        ports: crate::ProcPorts,
        bin: PathBuf,
        args: Vec<String>,
        cwd: PathBuf,
        log_path: PathBuf,
    ) -> Self {
        Proc {
            name: name.into(),
            service,
            host: host.into(),
            grpc_port: ports.grpc,
            http_port: ports.http,
            internal_port: ports.internal,
            bin,
            args,
            wrapper: Vec::new(),
            env: Vec::new(),
            cwd,
            data_dir: None,
            log_path,
            child: None,
            last_exit: None,
            run_offset: 0,
        }
    }

    /// `host:grpc_port`, for gRPC clients and other services' flags. Panics for the gateway.
    pub fn grpc_addr(&self) -> String {
        let port = self
            .grpc_port
            .unwrap_or_else(|| panic!("{} has no gRPC port", self.name));
        format!("{}:{port}", self.host)
    }

    /// `http://host:grpc_port`, for tonic endpoints. Panics for the gateway.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr())
    }

    /// `host:internal_port` of an alpha. Panics for the other services.
    pub fn internal_addr(&self) -> String {
        let port = self
            .internal_port
            .unwrap_or_else(|| panic!("{} has no internal port", self.name));
        format!("{}:{port}", self.host)
    }

    /// Where an alpha stands in its group's Raft, from its `/health`: `{role, leader, term,
    /// applied, behind}`, or `None` when it does not answer (or is no alpha).
    pub async fn raft_standing(&self) -> Option<serde_json::Value> {
        let body: serde_json::Value = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .ok()?
            .get(format!("{}/health", self.http_url()))
            .header("accept", "application/json")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body.get("raft").cloned()
    }

    /// The base URL of the HTTP port, `http://host:http_port` (no trailing slash).
    pub fn http_url(&self) -> String {
        format!("http://{}:{}", self.host, self.http_port)
    }

    /// Starts the process with the current `bin`, `args` and `env`, output appended to
    /// `log_path`. Does not wait for it to be healthy: see [`Proc::wait_healthy`].
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            anyhow::bail!("{} is already running (pid {:?})", self.name, self.pid());
        }
        if let Some(dir) = self.log_path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create log directory {}", dir.display()))?;
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("cannot open log {}", self.log_path.display()))?;
        writeln!(
            log,
            "==== lodestar harness: starting {} {} ====",
            self.bin.display(),
            self.args.join(" ")
        )?;
        self.run_offset = log.metadata()?.len();
        let stdout = log.try_clone()?;
        let mut cmd = match self.wrapper.split_first() {
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.args(&self.args)
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} from {}", self.name, self.bin.display()))?;
        self.child = Some(child);
        self.last_exit = None;
        Ok(())
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is running; reaps it if it has exited.
    pub fn is_running(&mut self) -> bool {
        self.reap().is_none() && self.child.is_some()
    }

    /// How the last run ended, once it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.reap();
        self.last_exit
    }

    /// Reaps the child if it has exited, returning its status.
    pub(crate) fn reap(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                self.last_exit = Some(status);
                Some(status)
            }
            Ok(None) => None,
            Err(_) => None,
        }
    }

    /// A description of why the process is not running, for error messages.
    fn describe_exit(&mut self) -> String {
        match self.exit_status() {
            Some(status) => format!("exited with {status}"),
            None if self.child.is_some() => "still running".to_string(),
            None => "never started".to_string(),
        }
    }

    /// SIGKILLs the process (if running) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            if let Ok(status) = child.wait() {
                self.last_exit = Some(status);
            }
        }
    }

    /// Sends SIGTERM without waiting. Does nothing when the process is not running.
    pub fn sigterm(&mut self) -> anyhow::Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let pid = self.pid().map(|p| p as i32).unwrap_or_default();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .with_context(|| format!("cannot send SIGTERM to {} (pid {pid})", self.name))
    }

    /// SIGTERM, then waits up to [`STOP_TIMEOUT`] for the exit. Returns how long the exit took and
    /// the exit status; an error if the process was not running, or did not exit in time (it is
    /// SIGKILLed then).
    pub async fn stop(&mut self) -> anyhow::Result<Stopped> {
        self.stop_within(STOP_TIMEOUT).await
    }

    /// [`Proc::stop`] with another timeout.
    pub async fn stop_within(&mut self, timeout: Duration) -> anyhow::Result<Stopped> {
        if !self.is_running() {
            let exit = self.describe_exit();
            anyhow::bail!("cannot stop {}: it is not running ({exit})", self.name);
        }
        let start = Instant::now();
        self.sigterm()?;
        self.wait_exit(start, timeout).await
    }

    /// Waits until the process exits, up to `timeout` after `since`, then SIGKILLs it.
    pub(crate) async fn wait_exit(
        &mut self,
        since: Instant,
        timeout: Duration,
    ) -> anyhow::Result<Stopped> {
        loop {
            if self.child.is_none() {
                let status = self
                    .last_exit
                    .ok_or_else(|| anyhow::anyhow!("{} was not started", self.name))?;
                return Ok(Stopped {
                    took: since.elapsed(),
                    status,
                });
            }
            if let Some(status) = self.reap() {
                return Ok(Stopped {
                    took: since.elapsed(),
                    status,
                });
            }
            if since.elapsed() >= timeout {
                return Err(self.kill_straggler(timeout));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs a process that outlived its grace period after SIGTERM; the error says so.
    pub(crate) fn kill_straggler(&mut self, grace: Duration) -> anyhow::Error {
        self.kill9();
        anyhow::anyhow!(
            "{} did not exit within {:.1} s of SIGTERM, so it was killed; last lines of {}:\n{}",
            self.name,
            grace.as_secs_f64(),
            self.log_path.display(),
            self.log_tail(30)
        )
    }

    /// Stops the process if it runs ([`Proc::stop`]), starts it again with the same args and
    /// data directory, and waits until it is healthy.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            self.stop().await?;
        }
        self.start()?;
        self.wait_healthy(RESTART_HEALTH_TIMEOUT).await
    }

    /// Polls `GET <http_url>/health` until it answers 200. Fails at once, with the log tail, if
    /// the process exits; fails after `timeout` otherwise.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let url = format!("{}/health", self.http_url());
        let start = Instant::now();
        let mut last: String;
        loop {
            if !self.is_running() {
                let exit = self.describe_exit();
                anyhow::bail!(
                    "{} {exit} before it became healthy; last lines of {}:\n{}",
                    self.name,
                    self.log_path.display(),
                    self.log_tail(40)
                );
            }
            match crate::http::probe(&url).await {
                Ok(200) => return Ok(()),
                Ok(status) => last = format!("{url} answered {status}"),
                Err(e) => last = format!("{url}: {e}"),
            }
            if start.elapsed() >= timeout {
                anyhow::bail!(
                    "{} is not healthy after {:.0} s ({last}); last lines of {}:\n{}",
                    self.name,
                    timeout.as_secs_f64(),
                    self.log_path.display(),
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current run's output contains `needle`.
    pub async fn wait_log(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if self.run_log().contains(needle) {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                anyhow::bail!(
                    "{} did not log {needle:?} within {:.0} s; last lines of {}:\n{}",
                    self.name,
                    timeout.as_secs_f64(),
                    self.log_path.display(),
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The whole log, every run.
    pub fn log(&self) -> String {
        read_from(&self.log_path, 0)
    }

    /// The output of the current (or last) run only.
    pub fn run_log(&self) -> String {
        read_from(&self.log_path, self.run_offset)
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        // Read only the end of large logs.
        let len = std::fs::metadata(&self.log_path)
            .map(|m| m.len())
            .unwrap_or(0);
        let text = read_from(&self.log_path, len.saturating_sub(256 * 1024));
        last_lines(&text, n)
    }

    /// Whether the current run failed because a port was taken.
    pub fn failed_on_port_in_use(&self) -> bool {
        mentions_port_in_use(&self.run_log())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn read_from(path: &std::path::Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path)
        && file.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `n` lines of `text`.
pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether a log says a listener could not bind because the port is taken.
pub(crate) fn mentions_port_in_use(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    log.contains("address already in use") || log.contains("address in use")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a\nb", 5), "a\nb");
        assert_eq!(last_lines("", 3), "");
    }

    #[test]
    fn port_in_use_is_recognised() {
        assert!(mentions_port_in_use(
            "ERROR cannot listen on 127.0.0.1:5080 for HTTP: Address already in use (os error 98)"
        ));
        assert!(!mentions_port_in_use("INFO starting"));
    }

    fn shell(dir: &std::path::Path, script: &str) -> Proc {
        Proc::new(
            "sh",
            Service::Zero,
            "127.0.0.1",
            crate::ProcPorts {
                grpc: None,
                http: crate::free_port(),
                internal: None,
            },
            PathBuf::from("/bin/sh"),
            vec!["-c".into(), script.into()],
            dir.to_path_buf(),
            dir.join("sh.log"),
        )
    }

    #[tokio::test]
    async fn stop_reports_the_exit_and_restart_reuses_the_args() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = shell(dir.path(), "echo run; exec sleep 30");
        p.start().unwrap();
        assert!(p.is_running());
        p.wait_log("run", Duration::from_secs(5)).await.unwrap();
        let stopped = p.stop().await.unwrap();
        assert!(stopped.took < STOP_TIMEOUT);
        assert!(!stopped.status.success(), "sleep dies of SIGTERM");
        assert!(!p.is_running());
        assert!(
            p.stop()
                .await
                .unwrap_err()
                .to_string()
                .contains("not running")
        );
        p.start().unwrap();
        p.wait_log("run", Duration::from_secs(5)).await.unwrap();
        p.kill9();
        assert!(!p.is_running());
        assert_eq!(p.log().matches("run\n").count(), 2, "{}", p.log());
        assert_eq!(p.run_log(), "run\n");
    }

    #[tokio::test]
    async fn wait_healthy_fails_fast_with_the_log_when_the_process_exits() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = shell(
            dir.path(),
            "echo 'cannot listen: Address already in use' >&2; exit 3",
        );
        p.start().unwrap();
        let start = Instant::now();
        let err = p
            .wait_healthy(Duration::from_secs(30))
            .await
            .unwrap_err()
            .to_string();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(err.contains("exited with exit status: 3"), "{err}");
        assert!(err.contains("Address already in use"), "{err}");
        assert!(p.failed_on_port_in_use());
    }

    #[tokio::test]
    async fn a_process_that_ignores_sigterm_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = shell(
            dir.path(),
            "trap '' TERM; echo ready; while true; do sleep 0.05; done",
        );
        p.start().unwrap();
        p.wait_log("ready", Duration::from_secs(5)).await.unwrap();
        let err = p
            .stop_within(Duration::from_millis(300))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not exit within"), "{err}");
        assert!(!p.is_running());
    }
}
