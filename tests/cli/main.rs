//! The `appos` CLI as a user runs it, against a real OpenSSH sshd and a real
//! agent: adding servers, host-key checks, auth errors, listing apps.

use std::path::Path;
use std::process::{Command, Output};

use appos_test_support as support;

/// A user of the CLI: their own HOME and config dir, no ssh-agent.
struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        User {
            home: tempfile::Builder::new()
                .prefix("appos-home")
                .tempdir()
                .expect("home"),
        }
    }

    fn appos(&self, args: &[&str]) -> Output {
        support::appos(self.home.path())
            .args(args)
            .env("USER", "nobody-local")
            .output()
            .expect("run appos")
    }

    fn config(&self) -> std::path::PathBuf {
        self.home.path().join(".config/appos")
    }

    fn add(&self, sshd: &support::Sshd, agent: &support::Agent, extra: &[&str]) -> Output {
        let (url, key, sock, boot) = (
            sshd.url(),
            sshd.user_key.private.display().to_string(),
            agent.socket().display().to_string(),
            agent.bootstrap_cmd(),
        );
        let mut args = vec![
            "server",
            "add",
            "test",
            url.as_str(),
            "--identity",
            key.as_str(),
            "--agent-socket",
            sock.as_str(),
            "--bootstrap-cmd",
            boot.as_str(),
        ];
        args.extend_from_slice(extra);
        self.appos(&args)
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn servers_json(user: &User) -> serde_json::Value {
    let o = user.appos(&["server", "list", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("json")
}

fn env() -> Option<(support::Sshd, support::Agent)> {
    let sshd = support::require("sshd", support::Sshd::start())?;
    let agent = support::Agent::start().expect("agent starts");
    Some((sshd, agent))
}

/// [`env`] with a user who added its server as `test`, its host key accepted.
fn connected() -> Option<(support::Sshd, support::Agent, User)> {
    let (sshd, agent) = env()?;
    let user = User::new();
    let o = user.add(&sshd, &agent, &["--accept-new-host-key"]);
    assert!(o.status.success(), "{}", stderr(&o));
    Some((sshd, agent, user))
}

#[test]
fn add_server_over_ssh_then_info_and_list() {
    let Some((sshd, agent)) = env() else { return };
    let docker = support::require("dockerd", support::docker()).is_some();
    let stack_name = support::unique("cli");
    let _stack = docker.then(|| {
        support::ComposeStack::up(&stack_name, &support::two_service_compose()).expect("stack")
    });

    let user = User::new();
    let o = user.add(&sshd, &agent, &["--accept-new-host-key"]);
    assert!(
        o.status.success(),
        "server add failed: {}\nsshd log:\n{}",
        stderr(&o),
        sshd.log()
    );
    let fp = sshd.host_key.fingerprint().expect("fp");
    assert!(
        stderr(&o).contains(&fp),
        "the accepted fingerprint is shown: {}",
        stderr(&o)
    );

    // The key went to the app's known_hosts; the token to the keyring or a 0600 file.
    let kh = std::fs::read_to_string(user.config().join("known_hosts")).expect("known_hosts");
    assert!(kh.contains(&format!("[127.0.0.1]:{}", sshd.port)));
    let tokens = user.config().join("tokens.toml");
    if tokens.exists() {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&tokens)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert!(
            stderr(&o).contains("warning: no OS keyring"),
            "a file fallback is announced"
        );
    }
    let list = agent.cli(&["token", "list"]).expect("token list");
    assert!(
        list.contains("appos-cli@"),
        "the bootstrap issued a named token: {list}"
    );

    let servers = servers_json(&user);
    assert_eq!(servers[0]["name"], "test");
    assert_eq!(servers[0]["current"], true);
    assert_eq!(servers[0]["host_key"], fp.as_str());

    let o = user.appos(&["info"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("agent"));

    let o = user.appos(&["--server", "test", "list", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let apps: Vec<appos_proto::App> = serde_json::from_slice(&o.stdout).expect("apps json");
    if docker {
        let app = apps
            .iter()
            .find(|a| a.name == stack_name)
            .expect("test stack listed through SSH");
        assert_eq!(app.services.len(), 2);
        let o = user.appos(&["list"]);
        assert!(
            stdout(&o).contains(&stack_name),
            "table lists the stack: {}",
            stdout(&o)
        );
    }

    // Removing the server forgets it and its token.
    let o = user.appos(&["server", "rm", "test"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(servers_json(&user), serde_json::json!([]));
    let o = user.appos(&["info"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no server configured"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unknown_host_key_is_refused_without_acceptance() {
    let Some((sshd, agent)) = env() else { return };
    let user = User::new();
    let o = user.add(&sshd, &agent, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let fp = sshd.host_key.fingerprint().expect("fp");
    let err = stderr(&o);
    assert!(err.contains(&fp), "names the fingerprint: {err}");
    assert!(err.contains("--accept-new-host-key"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(servers_json(&user), serde_json::json!([]), "nothing saved");
    assert!(
        !user.config().join("known_hosts").exists(),
        "no key recorded"
    );
    assert!(
        !agent
            .cli(&["token", "list"])
            .expect("list")
            .contains("appos-cli@"),
        "no token issued"
    );
}

#[test]
fn a_changed_host_key_is_refused_naming_both_fingerprints() {
    let Some((sshd, agent)) = env() else { return };
    let user = User::new();
    // The user's OpenSSH known_hosts records another key for this host:port.
    let other = support::KeyPair::generate(user.home.path(), "other").expect("key");
    let other_pub = std::fs::read_to_string(&other.public).expect("pub");
    let ssh_dir = user.home.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).expect("mkdir");
    std::fs::write(
        ssh_dir.join("known_hosts"),
        format!("[127.0.0.1]:{} {}", sshd.port, other_pub),
    )
    .expect("write");

    let o = user.add(&sshd, &agent, &["--accept-new-host-key"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("HOST KEY CHANGED"), "{err}");
    assert!(
        err.contains(&sshd.host_key.fingerprint().expect("fp")),
        "names the presented key: {err}"
    );
    assert!(
        err.contains(&other.fingerprint().expect("fp")),
        "names the recorded key: {err}"
    );
    assert_eq!(servers_json(&user), serde_json::json!([]), "nothing saved");
}

#[test]
fn a_changed_key_in_the_app_known_hosts_is_refused() {
    let Some((sshd, _agent, user)) = connected() else {
        return;
    };
    // Simulate a reinstalled (or impersonated) server: swap the recorded key.
    let other = support::KeyPair::generate(user.home.path(), "other").expect("key");
    let other_pub = std::fs::read_to_string(&other.public).expect("pub");
    std::fs::write(
        user.config().join("known_hosts"),
        format!("[127.0.0.1]:{} {}", sshd.port, other_pub),
    )
    .expect("write");
    let o = user.appos(&["list"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains(&other.fingerprint().expect("fp")));
    assert!(stderr(&o).contains(&sshd.host_key.fingerprint().expect("fp")));
}

#[test]
fn a_wrong_user_key_gives_a_clear_auth_error() {
    let Some((sshd, agent)) = env() else { return };
    let user = User::new();
    let wrong = support::KeyPair::generate(user.home.path(), "wrong").expect("key");
    let (url, sock, boot) = (
        sshd.url(),
        agent.socket().display().to_string(),
        agent.bootstrap_cmd(),
    );
    let key = wrong.private.display().to_string();
    let o = user.appos(&[
        "server",
        "add",
        "test",
        &url,
        "--identity",
        &key,
        "--agent-socket",
        &sock,
        "--bootstrap-cmd",
        &boot,
        "--accept-new-host-key",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("refused authentication"), "{err}");
    assert!(err.contains(&key), "names the key it tried: {err}");
    assert_eq!(servers_json(&user), serde_json::json!([]));
}

#[test]
fn a_missing_agent_is_reported() {
    let Some((sshd, agent)) = env() else { return };
    let user = User::new();
    let (url, key) = (sshd.url(), sshd.user_key.private.display().to_string());
    let o = user.appos(&[
        "server",
        "add",
        "test",
        &url,
        "--identity",
        &key,
        "--bootstrap-cmd",
        "/nonexistent/appos-agent",
        "--accept-new-host-key",
    ]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("was not found"), "{}", stderr(&o));

    // Bootstrap works but nothing listens on the socket path.
    let boot = agent.bootstrap_cmd();
    let o = user.appos(&[
        "server",
        "add",
        "test",
        &url,
        "--identity",
        &key,
        "--bootstrap-cmd",
        &boot,
        "--agent-socket",
        "/nonexistent/agent.sock",
    ]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent/agent.sock"),
        "{}",
        stderr(&o)
    );
    assert_eq!(servers_json(&user), serde_json::json!([]));
}

#[test]
fn an_unreachable_host_is_reported() {
    let user = User::new();
    let port = support::free_port();
    let o = user.appos(&[
        "server",
        "add",
        "x",
        &format!("ssh://root@127.0.0.1:{port}"),
        "--accept-new-host-key",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot reach"), "{}", stderr(&o));
}

#[test]
fn unix_socket_server_with_token_and_original_config_commands() {
    let agent = support::Agent::start().expect("agent starts");
    let token = agent.issue_token("direct", "admin").expect("token");
    let url = format!("unix://{}", agent.socket().display());

    // server add with a token.
    let user = User::new();
    let o = user.appos(&["server", "add", "local", &url, "--token", &token]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = user.appos(&["list", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Without a token the add fails and saves nothing.
    let user2 = User::new();
    let o = user2.appos(&["server", "add", "local", &url]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("needs a token"), "{}", stderr(&o));
    let o = user2.appos(&["server", "add", "local", &url, "--token", "appos_wrong"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(servers_json(&user2), serde_json::json!([]));

    // The original design's two commands.
    let user3 = User::new();
    let o = user3.appos(&["config", "set-url", &url]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = user3.appos(&["info"]);
    assert_eq!(o.status.code(), Some(4), "no token yet: {}", stderr(&o));
    let o = user3.appos(&["config", "set-token", &token]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = user3.appos(&["info", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: appos_proto::AgentInfo = serde_json::from_slice(&o.stdout).expect("info json");
    assert_eq!(Path::new(&info.data_dir), agent.data.path());

    // APPOS_TOKEN overrides the stored token.
    let o = support::appos(user3.home.path())
        .args(["info"])
        .env("APPOS_TOKEN", "appos_overridden")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let user = User::new();
    for (args, needle) in [
        (
            vec![
                "server",
                "add",
                "../evil",
                "unix:///tmp/x.sock",
                "--token",
                "appos_x",
            ],
            "invalid server name",
        ),
        (
            vec!["server", "add", "ok", "ftp://host", "--token", "appos_x"],
            "expected",
        ),
        (
            vec![
                "server",
                "add",
                "ok",
                "ssh://-oProxyCommand=sh",
                "--accept-new-host-key",
            ],
            "expected ssh://",
        ),
        (
            vec![
                "server",
                "add",
                "ok",
                "unix://relative.sock",
                "--token",
                "appos_x",
            ],
            "absolute path",
        ),
        (vec!["--server", "nope", "list"], "unknown server"),
        (vec!["server", "rm", "nope"], "unknown server"),
        (vec!["server", "use", "nope"], "unknown server"),
    ] {
        let o = user.appos(&args);
        assert!(!o.status.success(), "{args:?} must fail");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o).trim().lines().count(),
            1,
            "{args:?}: one line: {}",
            stderr(&o)
        );
    }
    assert_eq!(servers_json(&user), serde_json::json!([]));
}

/// With an unlocked Secret Service keyring (gnome-keyring in a private D-Bus
/// session), the token goes there and never to a file.
#[test]
fn tokens_go_to_the_os_keyring_when_there_is_one() {
    let have = ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"]
        .iter()
        .all(|b| {
            Command::new("which")
                .arg(b)
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        });
    let probe = if have {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "dbus-run-session, gnome-keyring-daemon or secret-tool missing"
        ))
    };
    if support::require("gnome-keyring", probe).is_none() {
        return;
    }
    let Some((sshd, agent)) = env() else { return };
    let user = User::new();
    let runtime = user.home.path().join("run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let script = format!(
        "set -e\n\
         echo -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n\
         {appos} server add test {url} --identity {key} --agent-socket {sock} --bootstrap-cmd '{boot}' --accept-new-host-key\n\
         {appos} info --output json >/dev/null\n\
         secret-tool search --all service dev.appos.token 2>&1\n",
        appos = support::bin("appos").display(),
        url = sshd.url(),
        key = sshd.user_key.private.display(),
        sock = agent.socket().display(),
        boot = agent.bootstrap_cmd(),
    );
    let o = Command::new("dbus-run-session")
        .args(["--", "bash", "-c", &script])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", user.home.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run dbus-run-session");
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("no OS keyring"), "{err}");
    assert!(
        !user.config().join("tokens.toml").exists(),
        "the token must not be written to a file"
    );
    assert!(
        out.contains("dev.appos.token"),
        "the keyring holds the token entry: {out}"
    );
}

/// `~/.ssh/config` is honoured: a Host alias with HostName, Port, User and
/// IdentityFile, and a ProxyJump through a second real sshd.
#[test]
fn ssh_config_aliases_and_proxy_jump() {
    let Some((target, agent)) = env() else { return };
    let jump = support::Sshd::start().expect("jump sshd");
    // The jump host accepts the same user key as the target.
    std::fs::copy(
        &target.user_key.public,
        jump.dir.path().join("authorized_keys"),
    )
    .expect("authorize");
    let user = User::new();
    let ssh_dir = user.home.path().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).expect("mkdir");
    std::fs::write(
        ssh_dir.join("config"),
        format!(
            "Host direct\n  HostName 127.0.0.1\n  Port {tp}\n  User {u}\n  IdentityFile {key}\n\n\
             Host hop\n  HostName 127.0.0.1\n  Port {jp}\n  User {u}\n  IdentityFile {key}\n\n\
             Host behind\n  HostName 127.0.0.1\n  Port {tp}\n  User {u}\n  IdentityFile {key}\n  ProxyJump hop\n",
            tp = target.port,
            jp = jump.port,
            u = target.user,
            key = target.user_key.private.display(),
        ),
    )
    .expect("write config");
    let (sock, boot) = (agent.socket().display().to_string(), agent.bootstrap_cmd());
    for (name, url) in [("direct", "ssh://direct"), ("behind", "ssh://behind")] {
        let o = user.appos(&[
            "server",
            "add",
            name,
            url,
            "--agent-socket",
            &sock,
            "--bootstrap-cmd",
            &boot,
            "--accept-new-host-key",
        ]);
        assert!(
            o.status.success(),
            "{name}: {}\njump log:\n{}",
            stderr(&o),
            jump.log()
        );
        let o = user.appos(&["--server", name, "info"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
    // The second connection really went through the jump host.
    assert!(
        jump.log().contains("Accepted publickey"),
        "jump host saw a login: {}",
        jump.log()
    );
    let kh = std::fs::read_to_string(user.config().join("known_hosts")).expect("known_hosts");
    assert!(
        kh.contains(&format!("[127.0.0.1]:{}", jump.port)),
        "the jump host's key was checked too: {kh}"
    );
}

/// Direct transports: an agent behind a real nginx TLS proxy (https, with and
/// without trusting its CA) and on a loopback TCP port (http).
#[test]
fn https_and_http_transports() {
    let http_port = support::free_port();
    let listen = format!("127.0.0.1:{http_port}");
    let agent = support::Agent::start_with(&["--listen", &listen]).expect("agent");
    let token = agent.issue_token("direct", "admin").expect("token");
    let ca = support::TestCa::new().expect("test CA");
    let Some(proxy) = support::require("nginx", support::TlsProxy::start(&ca, &agent.socket()))
    else {
        return;
    };
    let user = User::new();
    let https = format!("https://localhost:{}", proxy.port);

    // Not trusting the proxy's CA: a clear TLS error, nothing saved.
    let o = user.appos(&["server", "add", "tls", &https, "--token", &token]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("TLS handshake failed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(servers_json(&user), serde_json::json!([]));

    let ca_file = ca.ca_pem.display().to_string();
    let o = user.appos(&[
        "server",
        "add",
        "tls",
        &https,
        "--token",
        &token,
        "--ca-file",
        &ca_file,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = user.appos(&["--server", "tls", "info", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = user.appos(&[
        "server",
        "add",
        "plain",
        &format!("http://{listen}"),
        "--token",
        &token,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = user.appos(&["--server", "plain", "list", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Without --identity, the keys of a running ssh-agent are used.
#[test]
fn the_ssh_agent_is_used_when_no_key_is_named() {
    let Some((sshd, agent)) = env() else { return };
    let user = User::new();
    let sock = user.home.path().join("agent.sock");
    let mut ssh_agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !sock.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(&sshd.user_key.private)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("ssh-add");
    assert!(added.status.success(), "{}", stderr(&added));
    // No --identity, and no key files in ~/.ssh: only the agent can log in.
    let o = support::appos(user.home.path())
        .args([
            "server",
            "add",
            "viaagent",
            &sshd.url(),
            "--accept-new-host-key",
            "--agent-socket",
        ])
        .arg(agent.socket())
        .args(["--bootstrap-cmd", &agent.bootstrap_cmd()])
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("run");
    let _ = ssh_agent.kill();
    let _ = ssh_agent.wait();
    assert!(o.status.success(), "{}", stderr(&o));
    // Without the agent the same add is refused.
    let o = user.appos(&[
        "server",
        "add",
        "noagent",
        &sshd.url(),
        "--accept-new-host-key",
        "--bootstrap-cmd",
        &agent.bootstrap_cmd(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("no key"), "{}", stderr(&o));
}

/// An encrypted key: a clear error without its passphrase, a clear error with
/// a wrong one, success with the right one (from APPOS_SSH_PASSPHRASE).
#[test]
fn encrypted_keys_need_their_passphrase() {
    let Some((sshd, agent)) = env() else { return };
    let user = User::new();
    let key = user.home.path().join("locked_key");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "correct horse", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(out.status.success());
    std::fs::copy(
        key.with_extension("pub"),
        sshd.dir.path().join("authorized_keys"),
    )
    .expect("authorize");
    let (url, k, sock, boot) = (
        sshd.url(),
        key.display().to_string(),
        agent.socket().display().to_string(),
        agent.bootstrap_cmd(),
    );
    let args = [
        "server",
        "add",
        "locked",
        url.as_str(),
        "--identity",
        k.as_str(),
        "--agent-socket",
        sock.as_str(),
        "--bootstrap-cmd",
        boot.as_str(),
        "--accept-new-host-key",
    ];
    let run = |pass: Option<&str>| {
        let mut c = support::appos(user.home.path());
        c.args(args);
        if let Some(p) = pass {
            c.env("APPOS_SSH_PASSPHRASE", p);
        }
        c.output().expect("run")
    };

    let o = run(None);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is encrypted") && stderr(&o).contains("APPOS_SSH_PASSPHRASE"),
        "{}",
        stderr(&o)
    );
    let o = run(Some("wrong"));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not open it"), "{}", stderr(&o));
    assert_eq!(servers_json(&user), serde_json::json!([]));
    let o = run(Some("correct horse"));
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Completion scripts come from clap's own generator; bash loads its script.
#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    let user = User::new();
    let o = user.appos(&["completion", "bash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = user.config().join("appos.bash");
    std::fs::create_dir_all(user.config()).expect("mkdir");
    std::fs::write(&script, &o.stdout).expect("write");
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p appos", script.display()))
        .output()
        .expect("bash");
    assert_eq!(
        stdout(&loaded).trim(),
        "complete -o bashdefault -o default -o nosort -F _appos appos",
        "{}",
        stderr(&loaded)
    );
    let zsh = user.appos(&["completion", "zsh"]);
    assert!(
        stdout(&zsh).starts_with("#compdef appos\n"),
        "{}",
        stdout(&zsh)
    );
    let fish = user.appos(&["completion", "fish"]);
    assert!(
        stdout(&fish)
            .contains("complete -c appos -n \"__fish_appos_needs_command\" -f -a \"domains\""),
        "{}",
        stdout(&fish)
    );
    let o = user.appos(&["completion", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid value 'tcsh' for '<SHELL>'"),
        "{}",
        stderr(&o)
    );
}

/// `appos alerts`: the rules, changing one (bad values refused with the
/// field and why), and channels added, listed without their secrets, tested
/// and removed.
#[test]
fn alert_rules_and_channels_from_the_cli() {
    let Some((_sshd, _agent, user)) = connected() else {
        return;
    };

    let o = user.appos(&["alerts", "rules"]);
    assert_eq!(
        stdout(&o),
        "deployment_failed      on   -                    window 0 s      once\n\
         restart_loop           on   3 exits              window 600 s    every 3600 s\n\
         unhealthy              on   -                    window 60 s     every 3600 s\n\
         memory_high            on   90 % of the limit    window 300 s    every 3600 s\n\
         disk_low               on   10 % free            window 0 s      every 21600 s\n\
         certificate_expiring   on   30 days left         window 0 s      every 86400 s\n\
         backup_failed          on   -                    window 0 s      every 86400 s\n\
         backup_stale           on   2 × the schedule     window 0 s      every 86400 s\n",
        "{}",
        stderr(&o)
    );
    let o = user.appos(&["alerts", "rule", "memory_high", "--threshold", "101"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (
            Some(1),
            "appos: Invalid input: threshold: at most 100 for memory_high\n".to_string()
        )
    );
    let o = user.appos(&["alerts", "rule", "restart_loop", "--window", "0"]);
    assert_eq!(stderr(&o), "appos: Invalid input: window_secs: restart_loop counts exits within a window: at least 1 s\n");
    let o = user.appos(&[
        "alerts",
        "rule",
        "memory_high",
        "--threshold",
        "80",
        "--window",
        "60",
        "--off",
    ]);
    assert_eq!(
        stdout(&o),
        "memory_high            off  80 % of the limit    window 60 s     every 3600 s\n",
        "{}",
        stderr(&o)
    );
    let o = user.appos(&["alerts", "rule", "no_such_rule", "--on"]);
    assert_eq!(stderr(&o), "appos: no rule \"no_such_rule\"; the rules are deployment_failed, restart_loop, unhealthy, memory_high, disk_low, certificate_expiring, backup_failed, backup_stale\n");

    let (port, received) = support::webhook_sink();
    let o = user.appos(&[
        "alerts",
        "channel",
        "add",
        "ops",
        "--slack",
        &format!("http://127.0.0.1:{port}/services/T000/B000/SECRET"),
    ]);
    assert_eq!(stderr(&o), format!("channel ops added: slack http://127.0.0.1:{port}/…; try it with `appos alerts channel test ops`\n"));
    let o = user.appos(&["alerts", "channels"]);
    assert_eq!(
        stdout(&o),
        format!("ops                  slack    http://127.0.0.1:{port}/…\n"),
        "{}",
        stderr(&o)
    );
    let o = user.appos(&["alerts", "channel", "test", "ops"]);
    assert_eq!(stderr(&o), "the test message went through ops\n");
    // (An alert may come first on a busy machine: a full disk, say.)
    let body: serde_json::Value = loop {
        let b: serde_json::Value = serde_json::from_str(
            &received
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("the message"),
        )
        .expect("json");
        if b["text"]
            .as_str()
            .is_some_and(|t| t.contains("a test message"))
        {
            break b;
        }
    };
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("[WARNING] ")
            && text.contains(": a test message from AppOS, sent by ")
            && text.ends_with(" to the channel ops"),
        "{body}"
    );
    let o = user.appos(&[
        "alerts",
        "channel",
        "add",
        "mail",
        "--email",
        "ops@example.com",
        "--smtp",
        "smtp.example.com",
        "--from",
        "not-an-address",
    ]);
    assert_eq!(
        stderr(&o),
        "appos: Invalid input: config.from: \"not-an-address\" is not an email address\n"
    );
    let o = user.appos(&["alerts", "channel", "rm", "ops"]);
    assert_eq!(stderr(&o), "channel ops removed\n");
    let o = user.appos(&["alerts", "channel", "rm", "ops"]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (
            Some(1),
            "appos: No such alert channel: no alert channel named ops\n".to_string()
        )
    );
}

/// A repository's key is kept on this computer when it is made; `backup
/// restore --to` sets another server's repository with it (a fresh server,
/// after a loss) and restores there, bringing the backed-up agent's tokens
/// with `--keep-tokens` (not those whose name the server has). Without the
/// key on this computer it says how to give it.
#[test]
fn backup_keys_are_kept_and_a_restore_goes_to_another_server() {
    if support::require("dockerd", support::docker()).is_none()
        || support::require("restic", support::which("restic")).is_none()
    {
        return;
    }
    let (a, b) = (
        support::Agent::start().expect("agent a"),
        support::Agent::start().expect("agent b"),
    );
    let (admin_a, admin_b) = (
        a.issue_token("admin-a", "admin").expect("token"),
        b.issue_token("admin-b", "admin").expect("token"),
    );
    let ci_a = a.issue_token("ci", "deploy").expect("token");
    b.issue_token("ci", "deploy").expect("token");
    let user = User::new();
    for (name, agent, token) in [("a", &a, &admin_a), ("b", &b, &admin_b)] {
        let o = user.appos(&[
            "server",
            "add",
            name,
            &format!("unix://{}", agent.socket().display()),
            "--token",
            token,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let store = tempfile::tempdir().expect("dir");
    let location = store.path().join("repo").display().to_string();
    let o = user.appos(&["--server", "a", "backup", "repository", &location]);
    assert!(o.status.success(), "{}", stderr(&o));
    let key = stdout(&o).trim().to_string();
    assert_eq!(key.len(), 64, "{}", stderr(&o));
    let o = user.appos(&["--server", "a", "backup", "key"]);
    assert_eq!(
        (stdout(&o).trim(), o.status.code()),
        (key.as_str(), Some(0)),
        "{}",
        stderr(&o)
    );
    let o = user.appos(&["--server", "a", "backup", "create"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = user.appos(&["--server", "a", "backup", "list", "--output", "json"]);
    let snaps: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let snapshot = snaps[0]["id"].as_str().expect("a snapshot").to_string();

    // A second computer that never kept the key: told how to give it; b is left as it was.
    let other = User::new();
    for (name, agent, token) in [("a", &a, &admin_a), ("b", &b, &admin_b)] {
        let o = other.appos(&[
            "server",
            "add",
            name,
            &format!("unix://{}", agent.socket().display()),
            "--token",
            token,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = other.appos(&[
        "--server", "a", "backup", "restore", &snapshot, "--all", "--to", "b",
    ]);
    assert_eq!(
        (o.status.code(), stderr(&o)),
        (Some(1), format!("appos: the key of {location} is not kept on this computer: set it on b first with `appos --server b backup repository {location} --key-stdin`\n"))
    );
    let o = other.appos(&["--server", "b", "backup", "repository", "--output", "json"]);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(info["location"], serde_json::Value::Null, "{}", stderr(&o));

    let o = user.appos(&[
        "--server",
        "a",
        "backup",
        "restore",
        &snapshot,
        "--all",
        "--keep-tokens",
        "--to",
        "b",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("b backs up to {location} too now\n")),
        "{err}"
    );
    assert!(err.contains("tokens kept from the backup: admin-a; left out, a token of that name exists here: ci\n"), "{err}");
    // a's admin token works on b now; a's `ci` does not (b keeps its own).
    let with_token = |token: &str| {
        support::appos(user.home.path())
            .args(["--server", "b", "backup", "runs"])
            .env("APPOS_TOKEN", token)
            .output()
            .expect("appos")
    };
    assert_eq!(with_token(&admin_a).status.code(), Some(0));
    assert_eq!(with_token(&ci_a).status.code(), Some(4));
    let o = user.appos(&["--server", "b", "backup", "key"]);
    assert_eq!(
        stdout(&o).trim(),
        key,
        "the key is kept for b too: {}",
        stderr(&o)
    );
}

/// What happens to the connection between the CLI and the server.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// The server-side SSH connection killed (a network that drops it).
    Cut,
    /// The sshd connection processes frozen with SIGSTOP past the
    /// keepalive window: nothing closes, nothing answers (a sleeping
    /// laptop's peer, a dead NAT entry).
    Frozen,
    /// sshd restarted, its connections dropped (a reboot drops them).
    SshdRestart,
    /// The agent killed and started again; the SSH connection stays.
    AgentRestart,
}

/// `appos events`, `appos logs -f` on a running app and `appos deploy -f`
/// of a stack that takes 6 s to become healthy, all running through
/// `outage`: the deploy exits 0 with the succeeded deployment and exactly
/// one deployment exists; the events and the log lines come each once, in
/// order, with what happened during and after the outage among them; each
/// command said once that the connection was lost and that it is back.
fn streams_go_on_through(outage: Outage) {
    if support::require("dockerd", support::docker()).is_none() {
        return;
    }
    let Some((mut sshd, mut agent, user)) = connected() else {
        return;
    };
    let app = |prefix: &str, command: &str, extra: &str| {
        let name = support::unique(prefix);
        let project = user.home.path().join(&name);
        std::fs::create_dir_all(&project).expect("dir");
        std::fs::write(
            project.join("compose.yml"),
            format!(
                "services:\n  web:\n    image: {}\n    command: [\"/bin/busybox\", \"sh\", \"-c\", \"{command}\"]\n{extra}    stop_signal: SIGKILL\n    labels: [\"{}=1\"]\n",
                support::BUSYBOX_IMAGE,
                support::TEST_LABEL
            ),
        )
        .expect("compose");
        let down = Down(project.clone(), name.clone());
        (name, project.display().to_string(), down)
    };
    // Ten numbered lines a second, for `logs -f`.
    let (counter, counter_dir, _counter_down) = app(
        "count",
        "i=0; while true; do i=$$((i+1)); echo line $$i; /bin/busybox usleep 100000; done",
        "",
    );
    let o = user.appos(&["deploy", "-f", &counter_dir, "--name", &counter]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Healthy after about 6 s, for `deploy -f`.
    let (slow, slow_dir, _slow_down) = app(
        "slow",
        "sleep 6; touch /tmp/ready; exec /bin/busybox httpd -f -p 8080",
        "    healthcheck:\n      test: [\"CMD\", \"/bin/busybox\", \"test\", \"-f\", \"/tmp/ready\"]\n      interval: 1s\n      retries: 30\n",
    );

    let env = [
        ("APPOS_RECONNECT_SECS", "60"),
        ("APPOS_SSH_KEEPALIVE_SECS", "2"),
    ];
    let events = user.follow(&["events", "--output", "json"], &env);
    let logs = user.follow(
        &["logs", &counter, "-f", "--tail", "all", "--output", "json"],
        &env,
    );
    let deploy = user.follow(&["deploy", "-f", &slow_dir, "--name", &slow], &env);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let mut frozen = Vec::new();
    match outage {
        Outage::Cut => sshd.cut_connections(),
        Outage::Frozen => {
            frozen = sshd.freeze_connections();
            assert!(!frozen.is_empty(), "a connection to freeze");
        }
        Outage::SshdRestart => sshd.restart(false).expect("sshd again"),
        Outage::AgentRestart => agent.crash_and_restart().expect("the agent again"),
    }
    let (status, deploy_err) = ends_within(
        deploy,
        std::time::Duration::from_secs(90),
        "the deploy still follows after 90 s",
    );
    assert!(status.success(), "{outage:?}: {deploy_err}");
    assert!(
        deploy_err.contains(&format!("{slow} succeeded in ")),
        "{outage:?}: {deploy_err}"
    );
    let o = user.appos(&["deployments", &slow, "--output", "json"]);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(list.len(), 1, "{outage:?}: one deployment: {list:?}");
    // A little more, for the streams to show what came after.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (events_out, events_err) = stop(events);
    let (logs_out, logs_err) = stop(logs);
    support::Sshd::thaw(&frozen);

    let seen: Vec<serde_json::Value> = events_out
        .lines()
        .map(|l| serde_json::from_str(l).expect("an event"))
        .collect();
    let ids: Vec<i64> = seen.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{outage:?}: each event once, in order: {ids:?}"
    );
    assert!(
        seen.iter().any(|e| e["kind"] == "deployment"
            && e["app"] == slow.as_str()
            && e["data"]["state"] == "succeeded"),
        "{outage:?}: the deployment's end is among the events:\n{events_out}\n{events_err}"
    );
    let numbers: Vec<u64> = logs_out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a line"))
        .map(|l| {
            l["text"]
                .as_str()
                .and_then(|t| t.strip_prefix("line "))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{l}"))
        })
        .collect();
    // At ten a second, 2 s before the outage and 3 s after the deploy.
    assert!(
        numbers.len() > 50,
        "{outage:?}: lines before and after the outage: {numbers:?}\n{logs_err}"
    );
    let expected: Vec<u64> = (numbers[0]..numbers[0] + numbers.len() as u64).collect();
    assert_eq!(
        numbers, expected,
        "{outage:?}: every line once, in order\n{logs_err}"
    );

    for (what, err) in [
        ("events", &events_err),
        ("logs", &logs_err),
        ("deploy", &deploy_err),
    ] {
        assert_eq!(
            err.matches("appos: the connection to test was lost (")
                .count(),
            1,
            "{outage:?}: {what} says once that it was lost:\n{err}"
        );
        assert_eq!(
            err.matches("appos: connected to test again\n").count(),
            1,
            "{outage:?}: {what} says once that it is back:\n{err}"
        );
    }
}

#[test]
fn streams_go_on_through_a_cut_connection() {
    streams_go_on_through(Outage::Cut);
}

#[test]
fn streams_go_on_through_a_frozen_connection() {
    streams_go_on_through(Outage::Frozen);
}

#[test]
fn streams_go_on_through_an_sshd_restart() {
    streams_go_on_through(Outage::SshdRestart);
}

#[test]
fn streams_go_on_through_an_agent_restart() {
    streams_go_on_through(Outage::AgentRestart);
}

impl User {
    /// `appos ARGS` left running (with `env`), its output kept for [`stop`] or [`ended`].
    fn follow(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        support::appos(self.home.path())
            .args(args)
            .env("USER", "nobody-local")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn appos")
    }
}

/// Stops a followed command: what it printed on stdout and on stderr.
fn stop(mut child: std::process::Child) -> (String, String) {
    use std::io::Read as _;
    let _ = child.kill();
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    let _ = child.wait();
    (out, err)
}

/// Waits for a followed command to end by itself: its status and stderr.
fn ended(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    use std::io::Read as _;
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    (status, err)
}

/// [`ended`], failing with `why` if it is still running after `within`.
fn ends_within(
    mut child: std::process::Child,
    within: std::time::Duration,
    why: &str,
) -> (std::process::ExitStatus, String) {
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        assert!(started.elapsed() < within, "{why}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    ended(child)
}

/// Takes a compose project down when the test ends.
struct Down(std::path::PathBuf, String);

impl Drop for Down {
    fn drop(&mut self) {
        support::compose_down(&self.0, &self.1);
    }
}

/// The server comes back from a cut with another host key (a machine in
/// the middle, or a reinstall): the reconnection stops at once with that
/// error, naming both keys, and does not try again.
#[test]
fn a_host_key_changed_during_a_reconnection_stops_it_with_that_error() {
    let Some((mut sshd, _agent, user)) = connected() else {
        return;
    };
    let old = sshd.host_key.fingerprint().expect("fp");
    let events = user.follow(
        &["events", "--output", "json"],
        &[("APPOS_RECONNECT_SECS", "120")],
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    sshd.restart(true).expect("sshd with another key");
    let new = sshd.host_key.fingerprint().expect("fp");
    let (status, err) = ends_within(
        events,
        std::time::Duration::from_secs(30),
        "still trying after 30 s: a changed host key must stop it",
    );
    assert_eq!(status.code(), Some(3), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "appos: HOST KEY CHANGED for [127.0.0.1]:{}: the server presented {new}, but ",
            sshd.port
        )) && last.contains(&format!(" records {old}.")),
        "{err}"
    );
}

/// A server that does not come back within `APPOS_RECONNECT_SECS`: one
/// error that says the connection was lost and for how long it was tried,
/// not "the agent is not reachable".
#[test]
fn a_server_that_does_not_come_back_ends_with_one_clear_error() {
    let Some((sshd, _agent, user)) = connected() else {
        return;
    };
    let events = user.follow(&["events"], &[("APPOS_RECONNECT_SECS", "3")]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let url = sshd.url();
    drop(sshd);
    let (status, err) = ended(events);
    assert_eq!(status.code(), Some(5), "{err}");
    let last = err.lines().last().unwrap_or_default();
    let port = url.rsplit(':').next().unwrap_or_default();
    assert!(
        last.starts_with(&format!("appos: the connection to {url} → "))
            && last.contains(&format!(
                " was lost: cannot reach [127.0.0.1]:{port}: Connection refused"
            ))
            && last.ends_with(" (not back within 3 s)"),
        "{err}"
    );
    // While it tried, it said so once, in plain words.
    assert!(
        err.starts_with("appos: the connection to test was lost (event stream: "),
        "{err}"
    );
}

/// The token is revoked while the connection is down: once back, the
/// command stops with that error and does not try again.
#[test]
fn a_token_revoked_during_an_outage_stops_with_that_error() {
    let Some((sshd, agent, user)) = connected() else {
        return;
    };
    let events = user.follow(&["events"], &[("APPOS_RECONNECT_SECS", "60")]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let tokens = agent.cli(&["token", "list"]).expect("tokens");
    let name = tokens
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .next()
                .filter(|n| n.starts_with("appos-cli"))
        })
        .expect("the CLI's token")
        .to_string();
    agent.cli(&["token", "revoke", &name]).expect("revoke");
    sshd.cut_connections();
    let (status, err) = ends_within(
        events,
        std::time::Duration::from_secs(20),
        "still trying: a revoked token must stop it",
    );
    assert_eq!(status.code(), Some(4), "{err}");
    assert_eq!(
        err.lines().last(),
        Some("appos: Missing or invalid token: this token was revoked"),
        "{err}"
    );
}

/// `appos ARGS` on a pseudo-terminal (under `script`), as in a user's terminal.
struct Tty {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    output: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Tty {
    fn start(user: &User, args: &str) -> Option<Tty> {
        use std::io::Read as _;
        support::require("script", support::which("script"))?;
        let mut child = Command::new("script")
            .args([
                "-q",
                "-f",
                "-e",
                "-c",
                &format!("{} {args}", support::bin("appos").display()),
                "/dev/null",
            ])
            .env("HOME", user.home.path())
            .env("USER", "nobody-local")
            .env("APPOS_RECONNECT_SECS", "60")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("script");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, output) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Some(Tty {
            child,
            stdin,
            output,
            seen: String::new(),
        })
    }

    fn type_keys(&mut self, keys: &str) {
        use std::io::Write as _;
        self.stdin.write_all(keys.as_bytes()).expect("type");
    }

    /// Waits until `want` was shown `times` times in all.
    fn wait_for(&mut self, want: &str, times: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.seen.matches(want).count() < times {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(b) => self.seen.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => panic!("{want:?} ×{times} never came:\n{}", self.seen),
            }
        }
    }

    /// Waits for the command to end: its exit status and all it showed.
    fn ended(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait");
        while let Ok(b) = self.output.recv_timeout(std::time::Duration::from_secs(5)) {
            self.seen.push_str(&String::from_utf8_lossy(&b));
        }
        (status.code(), self.seen)
    }
}

/// `appos shell` on a terminal through a cut connection: the session lives
/// on in the agent; the viewer attaches again by itself once the connection
/// is back, the screen replayed (what was typed before is there again), and
/// the shell goes on taking input.
#[test]
fn a_terminal_attaches_again_by_itself_after_a_cut() {
    let Some((sshd, _agent, user)) = connected() else {
        return;
    };
    let Some(mut shell) = Tty::start(&user, "shell") else {
        return;
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    shell.type_keys("echo before-$((20+1))\r");
    shell.wait_for("before-21", 1);
    sshd.cut_connections();
    // Back: the screen replayed (before-21 again), and the shell takes input.
    shell.wait_for("before-21", 2);
    shell.type_keys("echo after-$((40+2))\r");
    shell.wait_for("after-42", 1);
    shell.type_keys("exit\r");
    let _ = shell.ended();
}

/// `appos shell` through an agent restart: the session went with the
/// agent, so there is nothing to attach to; it says so and ends.
#[test]
fn a_terminal_gone_with_a_restarted_agent_ends_saying_so() {
    let Some((_sshd, mut agent, user)) = connected() else {
        return;
    };
    let Some(mut shell) = Tty::start(&user, "shell") else {
        return;
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    shell.type_keys("echo before-$((20+1))\r");
    shell.wait_for("before-21", 1);
    agent.crash_and_restart().expect("the agent again");
    let (status, seen) = shell.ended();
    assert_eq!(status, Some(1), "{seen}");
    assert!(
        seen.trim_end().ends_with("appos: the terminal was gone when the connection came back: the agent restarted, or the session ended meanwhile; start a new one"),
        "{seen}"
    );
}
