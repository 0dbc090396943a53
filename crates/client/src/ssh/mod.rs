//! SSH sessions to servers: target resolution, host-key verification,
//! authentication, keepalive, tunnels to the agent and exec channels.

pub mod config;
pub mod known_hosts;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKey};
use russh::ChannelMsg;

pub use self::config::{Resolved, SshTarget};
pub use self::known_hosts::{fingerprint, KnownHosts, NewKeyPolicy};
use crate::transport::{BoxIo, RemoteEndpoint};
use crate::ClientError;

/// How hops of a ProxyJump chain may nest before we call it a loop.
const MAX_JUMPS: usize = 4;

/// Everything that decides how a connection is made, apart from the target.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// A key file to use (instead of the config's and the default ones).
    pub identity: Option<PathBuf>,
    /// Passphrase for an encrypted key file.
    pub passphrase: Option<String>,
    /// Password, tried after keys.
    pub password: Option<String>,
    /// Try the keys of the ssh-agent at `SSH_AUTH_SOCK`.
    pub use_agent: bool,
    pub new_key_policy: NewKeyPolicy,
    pub known_hosts: KnownHosts,
    /// Usually `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
    /// The local user's home, for `~` in config and default key files.
    pub home: PathBuf,
    /// The local user's name, the default remote user.
    pub local_user: String,
    pub connect_timeout: Duration,
    /// A keepalive every `keepalive`; the connection is lost after two go
    /// unanswered (a sleeping laptop, a dead NAT entry): noticed within
    /// three intervals. `APPOS_SSH_KEEPALIVE_SECS`, 7 by default.
    pub keepalive: Duration,
    /// How long a lost connection is tried again before giving up:
    /// `APPOS_RECONNECT_SECS`, 300 by default.
    pub reconnect_for: Duration,
}

impl ConnectOptions {
    /// The defaults of a user whose AppOS files live in `app_dir`.
    pub fn for_user(app_dir: &Path) -> ConnectOptions {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let local_user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into());
        ConnectOptions {
            identity: None,
            passphrase: None,
            password: None,
            use_agent: std::env::var_os("SSH_AUTH_SOCK").is_some(),
            new_key_policy: NewKeyPolicy::Ask,
            known_hosts: KnownHosts {
                app_file: app_dir.join("known_hosts"),
                user_file: Some(home.join(".ssh").join("known_hosts")),
                system_file: Some(PathBuf::from("/etc/ssh/ssh_known_hosts")),
            },
            ssh_config: Some(home.join(".ssh").join("config")),
            local_user,
            home,
            connect_timeout: Duration::from_secs(15),
            keepalive: Duration::from_secs(secs_from_env("APPOS_SSH_KEEPALIVE_SECS", 7)),
            reconnect_for: Duration::from_secs(secs_from_env("APPOS_RECONNECT_SECS", 300)),
        }
    }
}

/// A number of seconds (at least 1) from the environment, or `default`.
fn secs_from_env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|s| *s >= 1)
        .unwrap_or(default)
}

/// Output of a command run over an exec channel.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

struct Verifier {
    known_hosts: KnownHosts,
    host: String,
    port: u16,
    policy: NewKeyPolicy,
    seen: Arc<std::sync::Mutex<Option<String>>>,
}

impl client::Handler for Verifier {
    type Error = ClientError;

    async fn check_server_key(
        &mut self,
        presented: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, ClientError> {
        // A host certificate is checked as the key it certifies: AppOS pins
        // keys, it does not trust certificate authorities.
        let key = &presented.public_key();
        self.known_hosts
            .decide(&self.host, self.port, key, &self.policy)?;
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint(key));
        Ok(true)
    }
}

/// An authenticated SSH connection. Channels (tunnels, exec, PTYs) are
/// multiplexed over it; it is cheap to share behind an `Arc`.
pub struct SshSession {
    handle: Handle<Verifier>,
    resolved: Resolved,
    host_key: String,
    // Kept alive for as long as this session tunnels through it.
    _jump: Option<Arc<SshSession>>,
}

impl SshSession {
    /// Resolves, connects, verifies the host key and authenticates.
    pub async fn connect(
        target: &SshTarget,
        opts: &ConnectOptions,
    ) -> Result<SshSession, ClientError> {
        Self::connect_hop(target, opts, 0).await
    }

    fn connect_hop<'a>(
        target: &'a SshTarget,
        opts: &'a ConnectOptions,
        depth: usize,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<SshSession, ClientError>> + Send + 'a>,
    > {
        Box::pin(async move {
            let resolved = config::resolve(
                target,
                opts.ssh_config.as_deref(),
                &opts.home,
                &opts.local_user,
            )?;
            let addr = known_hosts::display_host(&resolved.host_name, resolved.port);
            let seen = Arc::new(std::sync::Mutex::new(None));
            let verifier = Verifier {
                known_hosts: opts.known_hosts.clone(),
                // HostKeyAlias, as OpenSSH: the key is looked up and recorded under the alias.
                host: resolved.host_key_name().to_string(),
                port: resolved.port,
                policy: opts.new_key_policy.clone(),
                seen: seen.clone(),
            };
            let config = Arc::new(client::Config {
                keepalive_interval: Some(opts.keepalive),
                keepalive_max: 2,
                nodelay: true,
                ..Default::default()
            });

            let (jump, connecting) = match &resolved.proxy_jump {
                Some(jump_spec) => {
                    if depth >= MAX_JUMPS {
                        return Err(ClientError::Config(format!(
                            "ProxyJump chain to {addr} is longer than {MAX_JUMPS} hops"
                        )));
                    }
                    let jump = Arc::new(
                        Self::connect_hop(&SshTarget::parse(jump_spec)?, opts, depth + 1).await?,
                    );
                    let channel = jump
                        .handle
                        .channel_open_direct_tcpip(
                            resolved.host_name.clone(),
                            resolved.port as u32,
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| ClientError::Unreachable {
                            addr: addr.clone(),
                            reason: format!("through {}: {e}", jump.describe()),
                        })?;
                    let fut = client::connect_stream(config, channel.into_stream(), verifier);
                    (
                        Some(jump),
                        tokio::time::timeout(opts.connect_timeout, fut).await,
                    )
                }
                None => {
                    let tcp = tokio::time::timeout(
                        opts.connect_timeout,
                        tokio::net::TcpStream::connect((
                            resolved.host_name.as_str(),
                            resolved.port,
                        )),
                    )
                    .await
                    .map_err(|_| ClientError::Unreachable {
                        addr: addr.clone(),
                        reason: "timed out".into(),
                    })?
                    .map_err(|e| ClientError::Unreachable {
                        addr: addr.clone(),
                        reason: e.to_string(),
                    })?;
                    let _ = tcp.set_nodelay(true);
                    let fut = client::connect_stream(config, QuickAck(tcp), verifier);
                    (None, tokio::time::timeout(opts.connect_timeout, fut).await)
                }
            };
            let mut handle = connecting
                .map_err(|_| ClientError::Unreachable {
                    addr: addr.clone(),
                    reason: "SSH handshake timed out".into(),
                })?
                .map_err(|e| match e {
                    ClientError::Ssh(reason) => ClientError::Unreachable {
                        addr: addr.clone(),
                        reason,
                    },
                    other => other,
                })?;
            authenticate(&mut handle, &resolved, opts).await?;
            let host_key = seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_default();
            tracing::info!(host = %addr, user = %resolved.user, "ssh session established");
            Ok(SshSession {
                handle,
                resolved,
                host_key,
                _jump: jump,
            })
        })
    }

    /// `ssh://user@host:port` of the resolved target.
    pub fn describe(&self) -> String {
        SshTarget {
            host: self.resolved.host_name.clone(),
            user: Some(self.resolved.user.clone()),
            port: Some(self.resolved.port),
        }
        .to_url()
    }

    /// SHA256 fingerprint of the key the server proved it holds.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.host_key
    }

    pub fn resolved(&self) -> &Resolved {
        &self.resolved
    }

    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Opens a new channel to the agent.
    pub async fn open_stream(&self, endpoint: &RemoteEndpoint) -> Result<BoxIo, ClientError> {
        if self.handle.is_closed() {
            return Err(ClientError::ConnectionLost {
                to: self.describe(),
                why: "the SSH connection closed".into(),
            });
        }
        let channel = match endpoint {
            RemoteEndpoint::Socket(path) => self
                .handle
                .channel_open_direct_streamlocal(path.clone())
                .await
                .map_err(|e| {
                    ClientError::AgentMissing(format!(
                        "cannot open {path} on {}: {e} (is the agent running?)",
                        self.describe()
                    ))
                })?,
            RemoteEndpoint::Tcp { host, port } => self
                .handle
                .channel_open_direct_tcpip(host.clone(), *port as u32, "127.0.0.1", 0)
                .await
                .map_err(|e| {
                    ClientError::AgentMissing(format!(
                        "cannot open {host}:{port} on {}: {e} (is the agent running?)",
                        self.describe()
                    ))
                })?,
        };
        Ok(Box::new(channel.into_stream()))
    }

    /// Runs `argv` on the server (its standard input empty). SSH carries a
    /// command line, not an argv, so every word is shell-quoted; nothing the
    /// caller passes is interpreted.
    pub async fn exec(&self, argv: &[String]) -> Result<ExecOutput, ClientError> {
        self.exec_with_input(argv, tokio::io::empty(), |_| {}).await
    }

    /// Runs `argv` on the server (quoted as [`SshSession::exec`] does) with
    /// `input` as its standard input (sent as fast as the channel takes it,
    /// then end of file); `sent` is told how many bytes have gone so far.
    pub async fn exec_with_input(
        &self,
        argv: &[String],
        mut input: impl tokio::io::AsyncRead + Unpin,
        sent: impl Fn(u64),
    ) -> Result<ExecOutput, ClientError> {
        use tokio::io::AsyncReadExt as _;
        let command = shlex::try_join(argv.iter().map(String::as_str))
            .map_err(|e| ClientError::Config(format!("cannot quote command {argv:?}: {e}")))?;
        let channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        let (mut read, write) = channel.split();
        let collect = async move {
            let mut out = ExecOutput {
                status: None,
                stdout: Vec::new(),
                stderr: Vec::new(),
            };
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        out.stderr.extend_from_slice(&data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                    _ => {}
                }
            }
            out
        };
        let send = async move {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                let n = input.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                // A command that exits early closes the channel: what it said explains why.
                if write.data(&buf[..n]).await.is_err() {
                    return Ok::<_, std::io::Error>(());
                }
                total += n as u64;
                sent(total);
            }
            let _ = write.eof().await;
            Ok(())
        };
        let (out, sending) = tokio::join!(collect, send);
        sending.map_err(|e| ClientError::Config(format!("reading what is sent: {e}")))?;
        Ok(out)
    }

    /// A login shell on the server itself on a PTY of `cols`×`rows`
    /// (`xterm-256color`): no agent involved.
    pub async fn open_shell(
        &self,
        cols: u16,
        rows: u16,
    ) -> Result<crate::terminal::TerminalIo, ClientError> {
        use crate::terminal::{TermIn, TermOut};
        let channel = self.handle.channel_open_session().await?;
        channel
            .request_pty(true, "xterm-256color", cols.into(), rows.into(), 0, 0, &[])
            .await?;
        channel.request_shell(true).await?;
        let (mut read, write) = channel.split();
        let (in_tx, mut in_rx) = tokio::sync::mpsc::unbounded_channel::<TermIn>();
        let (out_tx, out_rx) = tokio::sync::mpsc::channel::<TermOut>(256);
        tokio::spawn(async move {
            while let Some(i) = in_rx.recv().await {
                let sent = match i {
                    TermIn::Bytes(b) => write.data_bytes(b).await,
                    TermIn::Resize { cols, rows } => {
                        write.window_change(cols.into(), rows.into(), 0, 0).await
                    }
                    TermIn::Eof => write.eof().await,
                };
                if sent.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let _ = out_tx.send(TermOut::Replayed).await;
            let mut status = None;
            while let Some(msg) = read.wait().await {
                let out = match msg {
                    ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                        TermOut::Bytes(data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        status = Some(exit_status as i64);
                        continue;
                    }
                    ChannelMsg::Eof | ChannelMsg::Close => break,
                    _ => continue,
                };
                if out_tx.send(out).await.is_err() {
                    return;
                }
            }
            // The exit status may arrive after EOF.
            while status.is_none() {
                match tokio::time::timeout(std::time::Duration::from_millis(500), read.wait()).await
                {
                    Ok(Some(ChannelMsg::ExitStatus { exit_status })) => {
                        status = Some(exit_status as i64)
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            let _ = out_tx.send(TermOut::Exit(status.unwrap_or(-1))).await;
        });
        Ok(crate::terminal::TerminalIo {
            input: in_tx,
            output: out_rx,
        })
    }

    /// First contact: runs `<agent_cmd> token issue --name NAME --scope admin --replace`
    /// over an exec channel and returns the token it prints. `agent_cmd` is
    /// `appos-agent` by default, or e.g. `docker exec appos appos-agent`.
    pub async fn bootstrap_token(
        &self,
        agent_cmd: Option<&str>,
        token_name: &str,
    ) -> Result<String, ClientError> {
        let prefix = agent_cmd.unwrap_or("appos-agent");
        let mut argv = shlex::split(prefix)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ClientError::Config(format!("cannot parse bootstrap command {prefix:?}"))
            })?;
        argv.extend(
            [
                "token",
                "issue",
                "--name",
                token_name,
                "--scope",
                "admin",
                "--replace",
            ]
            .map(String::from),
        );
        let out = self.exec(&argv).await?;
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status {
            Some(0) => {}
            Some(127) => {
                return Err(ClientError::AgentMissing(format!(
                    "`{prefix}` was not found on {}: install the AppOS agent there, or pass the command that runs it (--bootstrap-cmd)",
                    self.describe()
                )))
            }
            status => {
                return Err(ClientError::AgentMissing(format!(
                    "`{prefix} token issue` failed on {} (exit {}): {stderr}",
                    self.describe(),
                    status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into())
                )))
            }
        }
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !token.starts_with("appos_") || token.contains(char::is_whitespace) {
            return Err(ClientError::Protocol(format!(
                "`{prefix} token issue` printed something that is not a token"
            )));
        }
        Ok(token)
    }
}

/// A TCP stream that acknowledges every read at once. OpenSSH's sshd leaves
/// Nagle on for forwarded channels, so the tail of a response waits for our
/// ACK; with Linux's delayed ACKs that is a 40 ms stall on every large answer.
struct QuickAck(tokio::net::TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let res = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if res.is_ready() {
            // The kernel clears the flag after an ACK; set it again each time.
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        res
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

fn default_identity_files(home: &Path) -> Vec<PathBuf> {
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|f| home.join(".ssh").join(f))
        .collect()
}

async fn authenticate(
    handle: &mut Handle<Verifier>,
    r: &Resolved,
    opts: &ConnectOptions,
) -> Result<(), ClientError> {
    let mut tried: Vec<String> = Vec::new();
    // The first encrypted key we could not open, and whether a passphrase was wrong.
    let mut locked: Option<(String, bool)> = None;

    let files: Vec<PathBuf> = match &opts.identity {
        Some(path) => vec![path.clone()],
        None => r
            .identity_files
            .iter()
            .cloned()
            .chain(default_identity_files(&opts.home))
            .collect(),
    };
    let explicit = opts.identity.is_some();

    // The agent first, as OpenSSH does, unless a key file was named.
    if opts.use_agent && !explicit {
        match russh::keys::agent::client::AgentClient::connect_env().await {
            Ok(mut agent) => {
                let keys = agent.request_identities().await.unwrap_or_default();
                for identity in keys {
                    let key = identity.public_key().into_owned();
                    tried.push(format!("agent key {}", fingerprint(&key)));
                    let hash = rsa_hash(handle, &key).await?;
                    match handle
                        .authenticate_publickey_with(&r.user, key, hash, &mut agent)
                        .await
                    {
                        Ok(AuthResult::Success) => return Ok(()),
                        Ok(_) => {}
                        Err(error) => tracing::debug!(%error, "agent signing failed"),
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "no ssh-agent"),
        }
    }

    for path in files {
        if !path.exists() {
            if explicit {
                return Err(ClientError::Config(format!(
                    "identity file {} does not exist",
                    path.display()
                )));
            }
            continue;
        }
        let key = match russh::keys::load_secret_key(&path, opts.passphrase.as_deref()) {
            Ok(k) => k,
            Err(e) => {
                let encrypted = matches!(e, russh::keys::Error::KeyIsEncrypted)
                    || (opts.passphrase.is_some()
                        && matches!(
                            russh::keys::load_secret_key(&path, None),
                            Err(russh::keys::Error::KeyIsEncrypted)
                        ));
                if encrypted {
                    let wrong_passphrase = opts.passphrase.is_some();
                    if explicit {
                        return Err(ClientError::KeyEncrypted {
                            path: path.display().to_string(),
                            wrong_passphrase,
                        });
                    }
                    // Ask for it only if nothing else gets us in, as OpenSSH does.
                    tracing::debug!(path = %path.display(), "skipping an encrypted key for now");
                    locked.get_or_insert((path.display().to_string(), wrong_passphrase));
                    continue;
                }
                if explicit {
                    return Err(ClientError::Config(format!(
                        "cannot read key {}: {e}",
                        path.display()
                    )));
                }
                continue;
            }
        };
        tried.push(path.display().to_string());
        let hash = rsa_hash(handle, key.public_key()).await?;
        let res = handle
            .authenticate_publickey(&r.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await?;
        if res.success() {
            return Ok(());
        }
    }

    if let Some(password) = &opts.password {
        tried.push("password".into());
        if handle
            .authenticate_password(&r.user, password)
            .await?
            .success()
        {
            return Ok(());
        }
    }

    if let Some((path, wrong_passphrase)) = locked {
        return Err(ClientError::KeyEncrypted {
            path,
            wrong_passphrase,
        });
    }
    Err(ClientError::AuthRejected {
        user: r.user.clone(),
        host: known_hosts::display_host(&r.host_name, r.port),
        tried: if tried.is_empty() {
            "no key: none found".into()
        } else {
            tried.join(", ")
        },
    })
}

async fn rsa_hash(
    handle: &Handle<Verifier>,
    key: &PublicKey,
) -> Result<Option<russh::keys::HashAlg>, ClientError> {
    if key.algorithm().is_rsa() {
        Ok(handle.best_supported_rsa_hash().await?.flatten())
    } else {
        Ok(None)
    }
}
