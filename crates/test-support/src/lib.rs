//! Real components for AppOS tests: an OpenSSH sshd on a free port with its
//! own keys, an agent process on a temporary data dir, Docker images built
//! `FROM scratch` with busybox, and compose stacks that clean up after
//! themselves. Everything a test creates in Docker carries the label
//! [`TEST_LABEL`].
//!
//! A missing service fails the test when `CI` is set and skips it loudly
//! otherwise ([`require`]).

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub const TEST_LABEL: &str = "dev.appos.test";
pub const BUSYBOX_IMAGE: &str = "appos-test/busybox:latest";

/// Decides what a test does when `service` is unavailable: panics under CI,
/// prints a loud skip line otherwise. Returns `None` when the test should stop.
pub fn require<T>(service: &str, probe: anyhow::Result<T>) -> Option<T> {
    match probe {
        Ok(v) => Some(v),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{service} is required under CI but unavailable: {e:#}")
        }
        Err(e) => {
            eprintln!("\n*** SKIPPED: {service} is not available ({e:#}); run the README's test command to start it ***\n");
            None
        }
    }
}

/// A short random suffix for names that must not collide between tests.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

/// Every live process as (pid, parent pid, name), from /proc; zombies
/// (gone, waiting for their parent to reap them) are left out.
pub fn processes() -> Vec<(u32, u32, String)> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| {
                    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    let (open, close) = (st.find('(')?, st.rfind(')')?);
                    let mut rest = st.get(close + 2..)?.split_whitespace();
                    if rest.next()? == "Z" {
                        return None;
                    }
                    let parent = rest.next()?.parse().ok()?;
                    Some((pid, parent, st.get(open + 1..close)?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// An HTTP server on loopback that answers every request 200 and passes on
/// the body of each (a webhook receiver).
pub fn webhook_sink() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead as _, Read as _, Write as _};
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let Ok(read_half) = conn.try_clone() else {
                continue;
            };
            let mut r = std::io::BufReader::new(read_half);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let mut w = conn;
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (port, rx)
}

/// A real SMTP server on loopback (Python's aiosmtpd, from Debian's
/// python3-aiosmtpd) that keeps every message in a Maildir.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpSink {
    pub fn start() -> anyhow::Result<SmtpSink> {
        // Debian's package is for the system's Python, whatever else PATH holds.
        let python = PathBuf::from("/usr/bin/python3");
        let probe = Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output()?;
        anyhow::ensure!(
            probe.status.success(),
            "aiosmtpd is not installed (apt install python3-aiosmtpd)"
        );
        let dir = tempfile::tempdir()?;
        let maildir = dir.path().join("mail");
        let port = free_port();
        let child = Command::new(python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("smtp.log"))?)
            .spawn()?;
        let mut sink = SmtpSink { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = sink.child.try_wait()? {
                anyhow::bail!(
                    "aiosmtpd exited ({status}): {}",
                    std::fs::read_to_string(sink.dir.path().join("smtp.log")).unwrap_or_default()
                );
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "aiosmtpd never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(sink)
    }

    /// Every message received so far, raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.dir.path().join("mail").join("new"))
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            (
                                e.metadata()
                                    .and_then(|m| m.modified())
                                    .unwrap_or(std::time::UNIX_EPOCH),
                                e.path(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits until a message matching `want` arrived, and returns it.
    pub fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| want(m)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no email {what} arrived; received: {:#?}",
                self.messages()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of a workspace binary (`appos`, `appos-agent`) in the same target
/// profile dir as the running executable (a test in `deps/`, or an xtask).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let candidates = [
        dir.join(name),
        dir.parent().map(|d| d.join(name)).unwrap_or_default(),
    ];
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => p.clone(),
        None => panic!(
            "{name} is not built next to {}: run `cargo build --workspace --bins` first",
            exe.display()
        ),
    }
}

/// The `appos` CLI as a user whose home is `home` runs it: a clean
/// environment (PATH and HOME only), no standard input. Callers add
/// arguments and variables.
pub fn appos(home: &Path) -> Command {
    let mut c = Command::new(bin("appos"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .stdin(Stdio::null());
    c
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("timed out after {timeout:?} waiting for {what}")
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A key pair made by `ssh-keygen`.
pub struct KeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
}

impl KeyPair {
    pub fn generate(dir: &Path, name: &str) -> anyhow::Result<KeyPair> {
        let private = dir.join(name);
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&private))?;
        Ok(KeyPair {
            public: private.with_extension("pub"),
            private,
        })
    }

    /// `SHA256:...` as OpenSSH prints it.
    pub fn fingerprint(&self) -> anyhow::Result<String> {
        let out = run(Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(&self.public))?;
        out.split_whitespace()
            .nth(1)
            .map(str::to_string)
            .context("ssh-keygen -l printed no fingerprint")
    }
}

/// An OpenSSH sshd on 127.0.0.1 with its own host key, accepting one user key
/// for the current user.
pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub host_key: KeyPair,
    pub user_key: KeyPair,
    pub user: String,
    child: Child,
}

fn sshd_binary() -> anyhow::Result<PathBuf> {
    let p = PathBuf::from("/usr/sbin/sshd");
    if p.exists() {
        Ok(p)
    } else {
        bail!("/usr/sbin/sshd not found (apt-get install openssh-server)")
    }
}

impl Sshd {
    pub fn start() -> anyhow::Result<Sshd> {
        let dir = tempfile::Builder::new().prefix("appos-sshd").tempdir()?;
        let host_key = KeyPair::generate(dir.path(), "host_key")?;
        let user_key = KeyPair::generate(dir.path(), "user_key")?;
        std::fs::copy(&user_key.public, dir.path().join("authorized_keys"))?;
        let user = run(Command::new("id").arg("-un"))?.trim().to_string();
        let port = free_port();
        let child = Sshd::spawn(dir.path(), port, &host_key)?;
        Ok(Sshd {
            dir,
            port,
            host_key,
            user_key,
            user,
            child,
        })
    }

    fn spawn(dir: &Path, port: u16, host_key: &KeyPair) -> anyhow::Result<Child> {
        let sshd = sshd_binary()?;
        std::fs::create_dir_all("/run/sshd").ok();
        let config = dir.join("sshd_config");
        let mut f = std::fs::File::create(&config)?;
        writeln!(
            f,
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPidFile {pid}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n\
             AllowTcpForwarding yes\nAllowStreamLocalForwarding yes\nLogLevel VERBOSE\nMaxStartups 100\nMaxSessions 100\n\
             Subsystem sftp internal-sftp",
            hk = host_key.private.display(),
            ak = dir.join("authorized_keys").display(),
            pid = dir.join("sshd.pid").display(),
        )?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("sshd.log"))?;
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting sshd")?;
        let up = wait_until("sshd to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if let Err(e) = up {
            let _ = child.kill();
            bail!(
                "{e}: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
        }
        Ok(child)
    }

    /// Stops sshd and the connections it serves (which would outlive it).
    fn stop(&mut self) {
        let children = run(Command::new("pgrep").args(["-P", &self.child.id().to_string()]))
            .unwrap_or_default();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in children.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }

    /// Cuts every connection from the server side, as a network that
    /// dropped them would: the per-connection sshd processes are killed,
    /// sshd itself keeps listening.
    pub fn cut_connections(&self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &self.child.id().to_string()])
            .status();
    }

    /// Freezes every connection (SIGSTOP on the per-connection sshd
    /// processes): they stop answering without closing anything, as a
    /// sleeping laptop's peer or a dead NAT entry would look. sshd itself
    /// keeps accepting new connections. Returns the frozen processes.
    pub fn freeze_connections(&self) -> Vec<String> {
        let mut frozen = Vec::new();
        let mut parents = vec![self.child.id().to_string()];
        while let Some(p) = parents.pop() {
            for pid in run(Command::new("pgrep").args(["-P", &p]))
                .unwrap_or_default()
                .split_whitespace()
            {
                let _ = Command::new("kill").args(["-STOP", pid]).status();
                frozen.push(pid.to_string());
                parents.push(pid.to_string());
            }
        }
        frozen
    }

    /// Lets frozen processes go again (they find their peer gone and end).
    pub fn thaw(pids: &[String]) {
        for pid in pids {
            let _ = Command::new("kill").args(["-CONT", pid]).status();
        }
    }

    /// Accepts one more public key (an `authorized_keys` line) for the user.
    pub fn authorize(&self, public_key_line: &str) -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))?;
        writeln!(f, "{}", public_key_line.trim())?;
        Ok(())
    }

    /// Stops sshd and its connections, as a reboot would, and starts it
    /// again on the same port; with a new host key, as a host reinstalled
    /// (or a machine in the middle) would show.
    pub fn restart(&mut self, new_host_key: bool) -> anyhow::Result<()> {
        self.stop();
        if new_host_key {
            std::fs::remove_file(&self.host_key.private)?;
            std::fs::remove_file(&self.host_key.public)?;
            self.host_key = KeyPair::generate(self.dir.path(), "host_key")?;
        }
        // The port was ours a moment ago; wait for the kernel to give it back.
        let port = self.port;
        wait_until("the sshd port to be free", Duration::from_secs(10), || {
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        })?;
        self.child = Sshd::spawn(self.dir.path(), self.port, &self.host_key)?;
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", self.user, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An `appos-agent serve` process on a temporary data dir.
pub struct Agent {
    pub data: tempfile::TempDir,
    child: Child,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Agent {
    pub fn start() -> anyhow::Result<Agent> {
        Self::start_with(&[])
    }

    /// Starts `appos-agent --data DIR serve EXTRA...`.
    pub fn start_with(extra: &[&str]) -> anyhow::Result<Agent> {
        Self::start_env(extra, &[])
    }

    /// Like [`Agent::start_with`], with extra environment variables.
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Agent> {
        let data = tempfile::Builder::new().prefix("appos-agent").tempdir()?;
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = Self::spawn(data.path(), &args, &env)?;
        let agent = Agent {
            data,
            child,
            args,
            env,
        };
        agent.wait_ready()?;
        Ok(agent)
    }

    fn spawn(data: &Path, args: &[String], env: &[(String, String)]) -> anyhow::Result<Child> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(data.join("agent.log"))?;
        Command::new(bin("appos-agent"))
            .arg("--data")
            .arg(data)
            .arg("serve")
            .args(args)
            .env("APPOS_LOG", "debug")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting appos-agent")
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        let sock = self.socket();
        wait_until("the agent socket", Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&sock).is_ok()
        })
        .with_context(|| self.log())
    }

    /// Kills the agent with SIGKILL, as a crash would, and starts it again on
    /// the same data dir.
    pub fn crash_and_restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.data.path(), &self.args, &self.env)?;
        self.wait_ready()
    }

    pub fn socket(&self) -> PathBuf {
        self.data.path().join("run").join("agent.sock")
    }

    /// The command that runs this agent's CLI on its data dir, as a
    /// `--bootstrap-cmd` value.
    pub fn bootstrap_cmd(&self) -> String {
        format!(
            "{} --data {}",
            bin("appos-agent").display(),
            self.data.path().display()
        )
    }

    /// Runs `appos-agent --data DIR ARGS...` and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        run(Command::new(bin("appos-agent"))
            .arg("--data")
            .arg(self.data.path())
            .args(args))
    }

    pub fn issue_token(&self, name: &str, scope: &str) -> anyhow::Result<String> {
        Ok(self
            .cli(&["token", "issue", "--name", name, "--scope", scope])?
            .trim()
            .to_string())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("agent.log")).unwrap_or_default()
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Docker CLI that matches the daemon: Debian's, when installed.
pub fn docker_cli() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/docker");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("docker")
    }
}

/// Checks that dockerd answers, and builds the busybox test image once.
pub fn docker() -> anyhow::Result<()> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            run(Command::new(docker_cli()).args(["info", "--format", "{{.ServerVersion}}"]))
                .map_err(|e| format!("{e:#}"))?;
            remove_leftover_networks();
            build_busybox_image().map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Networks that earlier test runs left behind (a run killed half-way never
/// takes its stacks down): compose networks of test-named projects
/// (`unique()` names) with nothing attached. Docker has about 30 address
/// pools, so leftovers would make later deployments fail.
fn remove_leftover_networks() {
    let Ok(out) = run(Command::new(docker_cli()).args([
        "network",
        "ls",
        "--filter",
        "label=com.docker.compose.project",
        "--format",
        "{{.Name}}",
    ])) else {
        return;
    };
    let test_named = |n: &str| {
        let project = n.strip_suffix("_default").unwrap_or(n);
        let (prefix, suffix) = project.split_at(project.len().saturating_sub(8));
        !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_lowercase())
            && suffix.len() == 8
            && suffix.bytes().all(|b| b.is_ascii_hexdigit())
    };
    for name in out.lines().map(str::trim).filter(|n| test_named(n)) {
        // Fails, harmlessly, for a network still in use.
        let _ = Command::new(docker_cli())
            .args(["network", "rm", name])
            .output();
    }
}

/// `FROM scratch` + `/bin/busybox` from Debian's busybox-static, made with
/// `docker import` so that no registry and no builder is needed.
fn build_busybox_image() -> anyhow::Result<()> {
    if run(Command::new(docker_cli()).args(["image", "inspect", BUSYBOX_IMAGE])).is_ok() {
        return Ok(());
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox not found (apt-get install busybox-static)");
    }
    let root = tempfile::tempdir()?;
    let bin_dir = root.path().join("bin");
    std::fs::create_dir_all(&bin_dir)?;
    std::fs::copy(busybox, bin_dir.join("busybox"))?;
    for applet in [
        "sh",
        "sleep",
        "httpd",
        "echo",
        "cat",
        "ls",
        "env",
        "stty",
        "sha256sum",
        "head",
        "true",
        "false",
    ] {
        std::os::unix::fs::symlink("busybox", bin_dir.join(applet))?;
    }
    std::fs::create_dir_all(root.path().join("tmp"))?;
    let tar = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("running tar")?;
    let stdout = tar.stdout.context("tar stdout")?;
    let out = Command::new(docker_cli())
        .args([
            "import",
            "--change",
            "CMD [\"/bin/sh\"]",
            "--change",
            "ENV PATH=/bin",
            "-",
            BUSYBOX_IMAGE,
        ])
        .stdin(stdout)
        .output()
        .context("running docker import")?;
    if !out.status.success() {
        bail!(
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The compose tool on this machine: the v2 plugin or docker-compose.
pub fn compose_cmd() -> Vec<String> {
    if Command::new(docker_cli())
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        vec![docker_cli().display().to_string(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

/// Takes down the compose project `project` that AppOS deployed in `dir`
/// (`<data>/apps/<project>`), whatever happened to the test.
pub fn compose_down(dir: &Path, project: &str) {
    let cmd = compose_cmd();
    let _ = Command::new(&cmd[0])
        .args(&cmd[1..])
        .args(["-p", project, "-f"])
        .arg(dir.join("compose.yml"))
        .args(["down", "-t", "1"])
        .current_dir(dir)
        .output();
}

/// A compose project in `dir` whose one service, `web`, serves `body` with
/// busybox httpd on port 8080 from `dir/www`.
pub fn busybox_site(dir: &Path, body: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("www"))?;
    std::fs::write(dir.join("www/index.html"), body)?;
    std::fs::write(
        dir.join("compose.yml"),
        format!(
            "services:\n  web:\n    image: {BUSYBOX_IMAGE}\n    command: [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n    volumes: [\"./www:/www:ro\"]\n    stop_signal: SIGKILL\n    labels: [\"{TEST_LABEL}=1\"]\n"
        ),
    )?;
    Ok(())
}

/// A compose project created outside AppOS, taken down (with volumes) on drop.
pub struct ComposeStack {
    pub name: String,
    pub dir: tempfile::TempDir,
}

impl ComposeStack {
    /// Brings up `compose_yaml` as project `name`.
    pub fn up(name: &str, compose_yaml: &str) -> anyhow::Result<ComposeStack> {
        let dir = tempfile::Builder::new().prefix("appos-stack").tempdir()?;
        std::fs::write(dir.path().join("compose.yml"), compose_yaml)?;
        let stack = ComposeStack {
            name: name.to_string(),
            dir,
        };
        stack.compose(&["up", "-d"])?;
        Ok(stack)
    }

    pub fn compose(&self, args: &[&str]) -> anyhow::Result<String> {
        let cmd = compose_cmd();
        run(Command::new(&cmd[0])
            .args(&cmd[1..])
            .arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(self.dir.path().join("compose.yml"))
            .args(args)
            .current_dir(self.dir.path()))
    }
}

impl Drop for ComposeStack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans", "-t", "1"]);
    }
}

/// A two-service stack of busybox containers, one with a published port.
pub fn two_service_compose() -> String {
    format!(
        r#"version: "3.8"
services:
  web:
    image: {BUSYBOX_IMAGE}
    command: ["/bin/busybox", "httpd", "-f", "-p", "8080"]
    ports: ["127.0.0.1::8080"]
    stop_signal: SIGKILL
    labels: ["{TEST_LABEL}=1"]
  worker:
    image: {BUSYBOX_IMAGE}
    command: ["/bin/busybox", "sleep", "3600"]
    stop_signal: SIGKILL
    labels: ["{TEST_LABEL}=1"]
"#
    )
}

/// Removes every container that tests created (by label), for a clean slate.
pub fn cleanup_docker() -> anyhow::Result<()> {
    let ids = run(Command::new(docker_cli()).args([
        "ps",
        "-aq",
        "--filter",
        &format!("label={TEST_LABEL}"),
    ]))?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        run(Command::new(docker_cli()).args(["rm", "-f"]).args(&ids))?;
    }
    Ok(())
}

/// Kills a whole process group (the child was spawned as its leader).
fn kill_group(child: &mut Child) {
    let pid = child.id();
    let _ = Command::new("kill")
        .args(["-s", "TERM", "--", &format!("-{pid}")])
        .status();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .status();
    let _ = child.wait();
}

/// A virtual X display.
pub struct Xvfb {
    pub display: String,
    child: Child,
}

impl Xvfb {
    pub fn start() -> anyhow::Result<Xvfb> {
        use std::os::unix::process::CommandExt as _;
        if Command::new("Xvfb")
            .arg("-help")
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            bail!("Xvfb not found (apt-get install xvfb)");
        }
        let n = (90..400)
            .map(|i| i + (rand::random::<u16>() % 200) as u32)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .context("no free X display number")?;
        let child = Command::new("Xvfb")
            .arg(format!(":{n}"))
            .args(["-screen", "0", "1280x820x24", "-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting Xvfb")?;
        let mut x = Xvfb {
            display: format!(":{n}"),
            child,
        };
        if let Err(e) = wait_until("Xvfb", Duration::from_secs(10), || {
            Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        }) {
            kill_group(&mut x.child);
            return Err(e);
        }
        Ok(x)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

const SESSION_BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// `tauri-driver` (with WebKitWebDriver behind it) in its own D-Bus session
/// on an X display. The app it starts inherits `env`.
pub struct TauriDriver {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

pub fn tauri_driver_binary() -> anyhow::Result<PathBuf> {
    let home_bin =
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"));
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("tauri-driver"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain(home_bin)
        .find(|p| p.exists())
        .context("tauri-driver not found (cargo install tauri-driver --locked)")
}

impl TauriDriver {
    pub fn start(
        display: &str,
        log_dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<TauriDriver> {
        use std::os::unix::process::CommandExt as _;
        let driver = tauri_driver_binary()?;
        if !Path::new("/usr/bin/WebKitWebDriver").exists() {
            bail!("WebKitWebDriver not found (apt-get install webkit2gtk-driver)");
        }
        let port = free_port();
        let native = free_port();
        let log = log_dir.join("tauri-driver.log");
        // A private session bus without activatable services, so that no
        // portal or accessibility daemon is started that would outlive the test.
        let bus_config = log_dir.join("session-bus.conf");
        std::fs::write(&bus_config, SESSION_BUS_CONFIG)?;
        let child = Command::new("dbus-run-session")
            .arg("--config-file")
            .arg(&bus_config)
            .arg("--")
            .arg(driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DISPLAY", display)
            .env("NO_AT_BRIDGE", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::options().append(true).open(&log)?)
            .process_group(0)
            .spawn()
            .context("starting dbus-run-session tauri-driver")?;
        let mut d = TauriDriver { port, log, child };
        // Both tauri-driver and the WebKitWebDriver it starts must listen:
        // a session asked for before the second does fails to connect.
        let listening = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
        if let Err(e) = wait_until("tauri-driver", Duration::from_secs(15), || {
            listening(port) && listening(native)
        }) {
            kill_group(&mut d.child);
            bail!(
                "{e}: {}",
                std::fs::read_to_string(&d.log).unwrap_or_default()
            );
        }
        Ok(d)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// The workspace's `target/e2e/` directory, where screenshots go.
pub fn e2e_artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    let _ = std::fs::create_dir_all(&dir);
    dir.canonicalize().unwrap_or(dir)
}

/// A throwaway certificate authority and a leaf for `localhost` and
/// `127.0.0.1`, made with the openssl CLI.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub ca_pem: PathBuf,
    pub leaf_pem: PathBuf,
    pub leaf_key: PathBuf,
}

impl TestCa {
    pub fn new() -> anyhow::Result<TestCa> {
        let dir = tempfile::Builder::new().prefix("appos-ca").tempdir()?;
        let p = |f: &str| dir.path().join(f);
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(p("ca.key"))
            .arg("-out")
            .arg(p("ca.pem"))
            .args([
                "-days",
                "2",
                "-subj",
                "/CN=AppOS test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]))?;
        run(Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(p("leaf.key"))
            .arg("-out")
            .arg(p("leaf.csr"))
            .args(["-subj", "/CN=localhost"]))?;
        std::fs::write(p("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")?;
        run(Command::new("openssl")
            .args(["x509", "-req", "-in"])
            .arg(p("leaf.csr"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-CAkey")
            .arg(p("ca.key"))
            .args(["-CAcreateserial", "-days", "2", "-out"])
            .arg(p("leaf.pem"))
            .arg("-extfile")
            .arg(p("ext")))?;
        Ok(TestCa {
            ca_pem: p("ca.pem"),
            leaf_pem: p("leaf.pem"),
            leaf_key: p("leaf.key"),
            dir,
        })
    }
}

/// nginx terminating TLS on a free loopback port and proxying to a unix socket.
pub struct TlsProxy {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl TlsProxy {
    pub fn start(ca: &TestCa, upstream_socket: &Path) -> anyhow::Result<TlsProxy> {
        let nginx = Path::new("/usr/sbin/nginx");
        if !nginx.exists() {
            bail!("/usr/sbin/nginx not found (apt-get install nginx)");
        }
        let dir = tempfile::Builder::new().prefix("appos-nginx").tempdir()?;
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{}}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             server {{\n  listen 127.0.0.1:{port} ssl;\n  ssl_certificate {leaf};\n  ssl_certificate_key {key};\n\
             location / {{ proxy_pass http://unix:{sock}:; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n }}\n}}\n",
            leaf = ca.leaf_pem.display(),
            key = ca.leaf_key.display(),
            sock = upstream_socket.display(),
        );
        std::fs::write(dir.path().join("nginx.conf"), conf)?;
        let child = Command::new(nginx)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nginx")?;
        let mut proxy = TlsProxy { dir, port, child };
        if let Err(e) = wait_until("nginx", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }) {
            let _ = proxy.child.kill();
            bail!(
                "{e}: {}",
                std::fs::read_to_string(proxy.dir.path().join("error.log")).unwrap_or_default()
            );
        }
        Ok(proxy)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds the all-in-one image `appos/agent:latest` from the agent binary of
/// this build (once per test process) with `container/build-image.sh`.
pub fn agent_image() -> anyhow::Result<String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            docker().map_err(|e| format!("{e:#}"))?;
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../container/build-image.sh");
            run(Command::new("bash").arg(script).arg(bin("appos-agent")))
                .map(|out| out.trim().to_string())
                .map_err(|e| format!("{e:#}"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// A container of the agent image, removed on drop.
pub struct AgentContainer {
    pub name: String,
    pub data: PathBuf,
}

impl AgentContainer {
    /// `docker run -d` with the Docker socket and `mounts` (`-v` values).
    pub fn run(mounts: &[String], env: &[String]) -> anyhow::Result<AgentContainer> {
        Self::run_with(mounts, env, &[])
    }

    /// [`AgentContainer::run`] with more `docker run` options (`--network host`).
    pub fn run_with(
        mounts: &[String],
        env: &[String],
        options: &[&str],
    ) -> anyhow::Result<AgentContainer> {
        let image = agent_image()?;
        let name = unique("appos-agent-");
        let mut cmd = Command::new(docker_cli());
        cmd.args([
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &format!("{TEST_LABEL}=1"),
        ])
        .args(options)
        .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"]);
        for m in mounts {
            cmd.args(["-v", m]);
        }
        for e in env {
            cmd.args(["-e", e]);
        }
        run(cmd.arg(&image))?;
        Ok(AgentContainer {
            name,
            data: PathBuf::new(),
        })
    }

    /// Waits (30 s at most) until the agent answers on `sock`; panics with the container's log if not.
    pub fn wait_socket(&self, sock: &Path) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(sock).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "agent socket never appeared:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn logs(&self) -> String {
        Command::new(docker_cli())
            .args(["logs", &self.name])
            .output()
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_default()
    }

    /// Waits for the container to stop and returns its exit code.
    pub fn wait_exit(&self, timeout: Duration) -> anyhow::Result<i32> {
        let mut code = None;
        wait_until("the container to exit", timeout, || {
            let out = run(Command::new(docker_cli()).args([
                "inspect",
                "-f",
                "{{.State.Running}} {{.State.ExitCode}}",
                &self.name,
            ]));
            match out.as_deref().map(str::trim) {
                Ok(s) if s.starts_with("false") => {
                    code = s.split_whitespace().nth(1).and_then(|c| c.parse().ok());
                    true
                }
                _ => false,
            }
        })?;
        code.context("no exit code")
    }
}

impl Drop for AgentContainer {
    fn drop(&mut self) {
        let _ = Command::new(docker_cli())
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// A redis-server on a free loopback port with AOF persistence (fsync on
/// every write), in its own directory, restartable on the same port and data.
pub struct Redis {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> anyhow::Result<Redis> {
        if !Path::new("/usr/bin/redis-server").exists() {
            bail!("/usr/bin/redis-server not found (apt-get install redis-server)");
        }
        let dir = tempfile::Builder::new().prefix("appos-redis").tempdir()?;
        let mut r = Redis {
            dir,
            port: free_port(),
            child: None,
        };
        r.spawn()?;
        Ok(r)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("redis.log"))?;
        let child = Command::new("/usr/bin/redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting redis-server")?;
        self.child = Some(child);
        let port = self.port;
        wait_until("redis-server", Duration::from_secs(10), || {
            use std::io::{Read as _, Write as _};
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let mut buf = [0u8; 16];
            s.write_all(b"PING\r\n").is_ok()
                && s.read(&mut buf)
                    .map(|n| buf[..n].starts_with(b"+PONG"))
                    .unwrap_or(false)
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server the way an admin would (SIGTERM: it flushes the AOF)
    /// and starts it again on the same port and data.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-s", "TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
        self.spawn()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Docker registry (Debian's docker-registry) on a free loopback port with
/// its storage in a temp dir. dockerd trusts 127.0.0.1 registries without
/// TLS, so images pushed here are pulled for real, layer by layer.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Registry {
    pub fn start() -> anyhow::Result<Registry> {
        let bin = Path::new("/usr/bin/docker-registry");
        if !bin.exists() {
            bail!("/usr/bin/docker-registry not found (apt-get install docker-registry)");
        }
        docker()?;
        let dir = tempfile::Builder::new()
            .prefix("appos-registry")
            .tempdir()?;
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry")?;
        let r = Registry {
            dir,
            port,
            child: Some(child),
        };
        wait_until("docker-registry", Duration::from_secs(15), || {
            use std::io::{Read as _, Write as _};
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let mut buf = [0u8; 32];
            s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n").is_ok()
                && s.read(&mut buf)
                    .map(|n| buf[..n].starts_with(b"HTTP/1.0 200"))
                    .unwrap_or(false)
        })?;
        Ok(r)
    }

    /// Pushes a busybox image with a layer of `blob_bytes` random bytes
    /// (unique, so pulling it downloads it) and removes it locally. Returns
    /// the reference to pull.
    pub fn push_unique_image(&self, blob_bytes: usize) -> anyhow::Result<String> {
        let reference = format!("127.0.0.1:{}/appos-test/pull:{}", self.port, unique("t"));
        let root = tempfile::tempdir()?;
        std::fs::create_dir_all(root.path().join("bin"))?;
        std::fs::copy("/bin/busybox", root.path().join("bin/busybox"))?;
        for applet in ["sh", "sleep"] {
            std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet))?;
        }
        let blob: Vec<u8> = (0..blob_bytes).map(|_| rand::random::<u8>()).collect();
        std::fs::write(root.path().join("blob"), blob)?;
        let tar = Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .context("running tar")?;
        let stdout = tar.stdout.context("tar stdout")?;
        let out = Command::new(docker_cli())
            .args(["import", "--change", "ENV PATH=/bin", "-", &reference])
            .stdin(stdout)
            .output()
            .context("running docker import")?;
        if !out.status.success() {
            bail!(
                "docker import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        run(Command::new(docker_cli()).args(["push", &reference]))?;
        run(Command::new(docker_cli()).args(["rmi", &reference]))?;
        Ok(reference)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A real ACME server for tests: pebble, with pebble-challtestsrv as its DNS
/// (every name resolves to 127.0.0.1), validating HTTP-01 challenges on
/// `http_port`. Its own TLS uses a throwaway CA made with openssl.
pub struct Pebble {
    dir: tempfile::TempDir,
    children: Vec<Child>,
    pub directory: String,
    management: u16,
    /// Where pebble-challtestsrv answers DNS (UDP and TCP on 127.0.0.1): what pebble resolves names with.
    pub dns: u16,
    challtestsrv: u16,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Pebble {
    /// Starts pebble for challenges on `http_port`.
    pub fn start(http_port: u16) -> anyhow::Result<Pebble> {
        for b in ["pebble", "pebble-challtestsrv", "openssl"] {
            which(b)?;
        }
        let dir = tempfile::tempdir()?;
        let p = |f: &str| dir.path().join(f).display().to_string();
        run(Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "7",
            "-subj",
            "/CN=appos test ACME CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]))?;
        run(Command::new("openssl").args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &p("acme.key"),
            "-out",
            &p("acme.csr"),
        ]))?;
        std::fs::write(
            dir.path().join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )?;
        run(Command::new("openssl").args([
            "x509",
            "-req",
            "-days",
            "7",
            "-in",
            &p("acme.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("acme.pem"),
            "-extfile",
            &p("ext.cnf"),
        ]))?;
        let (acme, management, dns, chall) = (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"), "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": p("acme.pem"), "privateKey": p("acme.key"), "httpPort": http_port, "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        }});
        std::fs::write(dir.path().join("pebble.json"), config.to_string())?;
        let log = |name: &str| std::fs::File::create(dir.path().join(name));
        let challtest = Command::new("pebble-challtestsrv")
            .args([
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{chall}"),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ])
            .stdout(log("challtestsrv.log")?)
            .stderr(Stdio::null())
            .spawn()?;
        let pebble = Command::new("pebble")
            .args([
                "-config",
                &p("pebble.json"),
                "-dnsserver",
                &format!("127.0.0.1:{dns}"),
            ])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log")?)
            .stderr(Stdio::null())
            .spawn()?;
        let me = Pebble {
            directory: format!("https://127.0.0.1:{acme}/dir"),
            management,
            dns,
            challtestsrv: chall,
            children: vec![challtest, pebble],
            dir,
        };
        // Each listener comes up on its own: the ACME directory, pebble's
        // management API (the issuing root) and challtestsrv's (DNS answers).
        let up = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        wait_until("pebble", Duration::from_secs(20), || {
            up(acme) && up(management) && up(chall)
        })
        .map_err(|e| anyhow::anyhow!("{e}\n{}", me.log()))?;
        Ok(me)
    }

    /// What pebble and its DNS logged so far.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- pebble ---\n{}\n--- pebble-challtestsrv ---\n{}",
            read("pebble.log"),
            read("challtestsrv.log")
        )
    }

    /// Makes `host` resolve to `ip` (instead of 127.0.0.1) for pebble and anyone asking its DNS.
    pub fn set_a(&self, host: &str, ip: &str) -> anyhow::Result<()> {
        let body = serde_json::json!({ "host": format!("{host}."), "addresses": [ip] }).to_string();
        run(Command::new("curl")
            .args(["-sSf", "-d", &body])
            .arg(format!("http://127.0.0.1:{}/add-a", self.challtestsrv)))
        .map(drop)
    }

    /// The CA that pebble's own HTTPS (the ACME directory) is signed by.
    pub fn acme_ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The root pebble issues certificates under (it makes a new one at each start), as a PEM file.
    pub fn issuing_root(&self) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join("issuing-root.pem");
        let url = format!("https://127.0.0.1:{}/roots/0", self.management);
        run(Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(self.acme_ca())
            .arg("-o")
            .arg(&path)
            .arg(url))?;
        Ok(path)
    }
}

/// Fails unless `bin` is on the PATH.
pub fn which(bin: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .with_context(|| format!("{bin} is not installed"))
}

/// Builds `tag` from a Dockerfile given as text (no build context).
pub fn docker_build(tag: &str, dockerfile: &str) -> anyhow::Result<()> {
    let mut build = Command::new(docker_cli())
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(
        build.stdin.as_mut().context("stdin")?,
        dockerfile.as_bytes(),
    )?;
    let out = build.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "building {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A server with OpenSSH and apt but no Docker: a container of a Debian
/// image made once from the agent image's debootstrapped base (openssh-server,
/// iproute2, a user `admin` without sudo). Root and `admin` log in with
/// `key`. Removed on drop.
pub struct BareServer {
    pub name: String,
    pub port: u16,
    pub key: KeyPair,
    _dir: tempfile::TempDir,
}

impl BareServer {
    const IMAGE: &'static str = "appos-test/bare-server:1";

    pub fn start() -> anyhow::Result<BareServer> {
        docker()?;
        agent_image()?; // builds the base
        let cli = docker_cli();
        if !Command::new(&cli)
            .args(["image", "inspect", Self::IMAGE])
            .output()?
            .status
            .success()
        {
            docker_build(
                Self::IMAGE,
                "FROM appos/debian:trixie\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server iproute2 \\\n && rm -rf /var/lib/apt/lists/* && mkdir -p /run/sshd && useradd -m -s /bin/sh admin\n",
            )?;
        }
        let dir = tempfile::Builder::new().prefix("appos-bare").tempdir()?;
        let key = KeyPair::generate(dir.path(), "bare_key")?;
        let name = unique("appos-bare-");
        let mount = format!("{}:/keys/authorized_keys:ro", key.public.display());
        let setup = "install -d -m 700 /root/.ssh /home/admin/.ssh && cp /keys/authorized_keys /root/.ssh/ && cp /keys/authorized_keys /home/admin/.ssh/ \
                     && chown -R admin /home/admin/.ssh && ssh-keygen -A && exec /usr/sbin/sshd -D -e";
        run(Command::new(&cli).args([
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &format!("{TEST_LABEL}=1"),
            "-p",
            "127.0.0.1::22",
            "-v",
            &mount,
            Self::IMAGE,
            "sh",
            "-c",
            setup,
        ]))?;
        let mut server = BareServer {
            port: 0,
            key,
            _dir: dir,
            name,
        };
        let port = run(Command::new(&cli).args(["port", &server.name, "22"]))?;
        let port = port
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
            .context("the published ssh port")?;
        server.port = port;
        wait_until("the bare server's sshd", Duration::from_secs(20), || {
            use std::io::Read as _;
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
        })?;
        Ok(server)
    }

    pub fn url(&self, user: &str) -> String {
        format!("ssh://{user}@127.0.0.1:{}", self.port)
    }

    /// Runs `sh -c script` on the server as root; its exit status and output.
    pub fn sh(&self, script: &str) -> std::process::Output {
        Command::new(docker_cli())
            .args(["exec", &self.name, "sh", "-c", script])
            .output()
            .expect("docker exec")
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = Command::new(docker_cli())
            .args(["rm", "-f", &self.name])
            .output();
    }
}
