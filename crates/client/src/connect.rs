//! Turning a saved server into a connected [`Client`], and adding a server:
//! the flows that the CLI and the desktop share.

use std::path::PathBuf;
use std::sync::Arc;

use appos_proto::AgentInfo;

use crate::profile::{Profiles, ServerProfile, TokenLocation};
use crate::ssh::{ConnectOptions, NewKeyPolicy, SshSession, SshTarget};
use crate::transport::{RemoteEndpoint, Transport};
use crate::{Client, ClientError};

/// Where the agent listens on a server unless told otherwise.
pub const DEFAULT_AGENT_SOCKET: &str = "/var/lib/appos/run/agent.sock";

/// Connects to a saved server. `token` is the token to present (from
/// `APPOS_TOKEN` or the token store).
/// The client makes the connection again when it is lost (the host key
/// checked again), for `opts.reconnect_for`.
pub async fn connect(
    profile: &ServerProfile,
    token: Option<String>,
    opts: &ConnectOptions,
) -> Result<Client, ClientError> {
    let transport = transport_for(profile, opts).await?;
    let (p, o) = (profile.clone(), opts.clone());
    let dial = Arc::new(move || {
        let (p, o) = (p.clone(), o.clone());
        Box::pin(async move { transport_for(&p, &o).await })
            as futures_util::future::BoxFuture<'static, Result<Transport, ClientError>>
    });
    Ok(Client::with_redial(
        transport,
        token,
        crate::api::Redial {
            dial,
            give_up_after: opts.reconnect_for,
        },
    ))
}

async fn transport_for(
    profile: &ServerProfile,
    opts: &ConnectOptions,
) -> Result<Transport, ClientError> {
    if profile.url.starts_with("ssh://") {
        let target = SshTarget::parse(&profile.url)?;
        let mut opts = opts.clone();
        if profile.identity.is_some() {
            opts.identity = profile.identity.clone();
        }
        let session = SshSession::connect(&target, &opts).await?;
        let socket = profile
            .agent_socket
            .clone()
            .unwrap_or_else(|| DEFAULT_AGENT_SOCKET.to_string());
        Ok(Transport::Ssh {
            session: Arc::new(session),
            endpoint: RemoteEndpoint::Socket(socket),
        })
    } else {
        Transport::from_url(&profile.url, profile.ca_file.as_deref())
    }
}

/// What `server add` is asked to do.
#[derive(Debug, Clone)]
pub struct AddServer {
    pub name: String,
    pub url: String,
    pub identity: Option<PathBuf>,
    pub agent_socket: Option<String>,
    pub bootstrap_cmd: Option<String>,
    /// Extra trusted CA certificates for an https URL.
    pub ca_file: Option<PathBuf>,
    /// A token to use as is; SSH servers get one by bootstrap when absent.
    pub token: Option<String>,
    /// Name of the token to issue, e.g. `appos-cli@laptop`.
    pub token_name: String,
}

#[derive(Debug, Clone)]
pub struct Added {
    pub info: AgentInfo,
    pub token_location: TokenLocation,
    pub host_key: Option<String>,
}

/// Connects, verifies the host key (per `opts.new_key_policy`), bootstraps a
/// token over SSH if none was given, checks that the agent answers with it,
/// and only then saves the server and its token. Nothing is saved on failure.
pub async fn add_server(
    profiles: &mut Profiles,
    req: AddServer,
    opts: &ConnectOptions,
    now: i64,
) -> Result<Added, ClientError> {
    crate::profile::check_server_name(&req.name)?;
    let mut profile = ServerProfile {
        url: req.url.clone(),
        identity: req.identity.clone(),
        agent_socket: req.agent_socket.clone(),
        bootstrap_cmd: req.bootstrap_cmd.clone(),
        ca_file: req.ca_file.clone(),
        host_key: None,
        added_at: now,
    };
    let (client, token, host_key) = if req.url.starts_with("ssh://") {
        let target = SshTarget::parse(&req.url)?;
        let mut opts = opts.clone();
        if req.identity.is_some() {
            opts.identity = req.identity.clone();
        }
        let session = Arc::new(SshSession::connect(&target, &opts).await?);
        let token = match req.token.clone() {
            Some(t) => t,
            None => match session
                .bootstrap_token(req.bootstrap_cmd.as_deref(), &req.token_name)
                .await
            {
                // No agent on the server's PATH: an agent installed in its
                // container (`appos server install`) is found and used.
                Err(e @ ClientError::AgentMissing(_))
                    if req.bootstrap_cmd.is_none() && req.agent_socket.is_none() =>
                {
                    let Some((cmd, socket)) = crate::install::installed_agent(&session).await?
                    else {
                        return Err(e);
                    };
                    let token = session.bootstrap_token(Some(&cmd), &req.token_name).await?;
                    profile.bootstrap_cmd = Some(cmd);
                    profile.agent_socket = Some(socket);
                    token
                }
                r => r?,
            },
        };
        let socket = profile
            .agent_socket
            .clone()
            .unwrap_or_else(|| DEFAULT_AGENT_SOCKET.to_string());
        let host_key = session.host_key_fingerprint().to_string();
        let transport = Transport::Ssh {
            session,
            endpoint: RemoteEndpoint::Socket(socket),
        };
        (
            Client::new(transport, Some(token.clone())),
            token,
            Some(host_key),
        )
    } else {
        let token = req.token.clone().ok_or_else(|| {
            ClientError::Config(format!(
                "{} needs a token: pass --token (or set APPOS_TOKEN)",
                req.url
            ))
        })?;
        (
            Client::new(
                Transport::from_url(&req.url, req.ca_file.as_deref())?,
                Some(token.clone()),
            ),
            token,
            None,
        )
    };
    let info = client.call(&appos_proto::calls::GetInfo {}).await?;
    profile.host_key = host_key.clone();
    profiles.upsert(&req.name, profile)?;
    profiles.save()?;
    let token_location = profiles.save_token(&req.name, &token).await?;
    Ok(Added {
        info,
        token_location,
        host_key,
    })
}

/// The policy for a new host key from the two ways a user can confirm one.
pub fn new_key_policy(accept_any: bool, confirmed_fingerprint: Option<String>) -> NewKeyPolicy {
    match (accept_any, confirmed_fingerprint) {
        (true, _) => NewKeyPolicy::AcceptAny,
        (false, Some(fp)) => NewKeyPolicy::AcceptFingerprint(fp),
        (false, None) => NewKeyPolicy::Ask,
    }
}
