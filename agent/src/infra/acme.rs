//! Certificates ordered by the agent itself (for nginx) from an ACME CA
//! (Let's Encrypt by default) with instant-acme: an account kept in the
//! data dir, and an order for one domain answered over HTTP-01 through the
//! proxy.

use std::path::{Path, PathBuf};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};

use crate::core::proxy::Http01;
use crate::infra::config::ProxyConfig;
use crate::infra::proxy::Nginx;

/// Why an order did not give a certificate.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The CA said no (a failed challenge, a rate limit, a refused name):
    /// trying again at once would not help.
    #[error("{0}")]
    Refused(String),
    /// The CA or the proxy could not be reached; worth another try.
    #[error("{0}")]
    Failed(String),
}

fn classify(e: instant_acme::Error) -> OrderError {
    match e {
        instant_acme::Error::Api(p) => OrderError::Refused(problem(&p)),
        other => OrderError::Failed(format!("the ACME CA: {other}")),
    }
}

fn problem(p: &instant_acme::Problem) -> String {
    let mut s = p
        .detail
        .clone()
        .or_else(|| p.r#type.clone())
        .unwrap_or_else(|| "no reason given".into());
    for sub in &p.subproblems {
        if let Some(d) = &sub.detail {
            s.push_str("; ");
            s.push_str(d);
        }
    }
    s
}

/// The account kept on disk, for the directory it was made with.
#[derive(Serialize, Deserialize)]
struct Saved {
    directory: String,
    credentials: AccountCredentials,
}

pub struct Acme {
    directory: String,
    email: Option<String>,
    root: Option<PathBuf>,
    /// `<data>/acme/account.json`.
    saved: PathBuf,
}

impl Acme {
    pub fn new(config: &ProxyConfig, data_dir: &Path) -> Acme {
        Acme {
            directory: config
                .acme_ca
                .clone()
                .unwrap_or_else(|| instant_acme::LetsEncrypt::Production.url().to_string()),
            email: config.acme_email.clone(),
            root: config.acme_ca_root.clone(),
            saved: data_dir.join("acme").join("account.json"),
        }
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, OrderError> {
        match &self.root {
            Some(root) => Account::builder_with_root(root).map_err(|e| {
                OrderError::Failed(format!("the ACME CA's root {}: {e}", root.display()))
            }),
            None => {
                Account::builder().map_err(|e| OrderError::Failed(format!("the ACME client: {e}")))
            }
        }
    }

    /// The account at this directory: the one kept, or a new one (kept).
    async fn account(&self) -> Result<Account, OrderError> {
        if let Ok(bytes) = std::fs::read(&self.saved) {
            if let Ok(saved) = serde_json::from_slice::<Saved>(&bytes) {
                if saved.directory == self.directory {
                    return self
                        .builder()?
                        .from_credentials(saved.credentials)
                        .await
                        .map_err(classify);
                }
            }
        }
        let contact = self.email.as_ref().map(|e| format!("mailto:{e}"));
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount {
            contact: &contact,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) = self
            .builder()?
            .create(&new, self.directory.clone(), None)
            .await
            .map_err(classify)?;
        let text = serde_json::to_vec(&Saved {
            directory: self.directory.clone(),
            credentials,
        })
        .map_err(|e| OrderError::Failed(e.to_string()))?;
        let dir = self.saved.parent().unwrap_or(Path::new("."));
        let kept = std::fs::create_dir_all(dir).and_then(|()| {
            crate::infra::compose::write_atomically(dir, "account.json", &text, 0o600)
        });
        if let Err(error) = kept {
            tracing::warn!(%error, "cannot keep the ACME account; a new one is made next time");
        }
        Ok(account)
    }

    /// Orders a certificate for `domain`, answering its HTTP-01 challenges
    /// through `nginx`: the PEM chain and its new key.
    pub async fn order(&self, domain: &str, nginx: &Nginx) -> Result<(String, String), OrderError> {
        // The ACME client's requests have no deadline of their own.
        match tokio::time::timeout(Duration::from_secs(300), self.order_inner(domain, nginx)).await
        {
            Ok(r) => r,
            Err(_) => Err(OrderError::Failed(format!(
                "the order for {domain} took longer than 5 minutes"
            ))),
        }
    }

    async fn order_inner(
        &self,
        domain: &str,
        nginx: &Nginx,
    ) -> Result<(String, String), OrderError> {
        let account = self.account().await?;
        tracing::info!(domain, directory = %self.directory, "new order");
        let ids = [Identifier::Dns(domain.to_string())];
        let mut order = account
            .new_order(&NewOrder::new(&ids))
            .await
            .map_err(classify)?;
        let mut answered = Vec::new();
        let result = async {
            let mut authorizations = order.authorizations();
            while let Some(a) = authorizations.next().await {
                let mut a = a.map_err(classify)?;
                match a.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    other => {
                        return Err(OrderError::Refused(format!(
                            "the CA's authorization for {domain} is {other:?}"
                        )))
                    }
                }
                let mut challenge = a.challenge(ChallengeType::Http01).ok_or_else(|| {
                    OrderError::Refused("the CA offers no HTTP-01 challenge".into())
                })?;
                let answer = Http01::new(&challenge.token, challenge.key_authorization().as_str())
                    .map_err(OrderError::Refused)?;
                answered.push(answer.token().to_string());
                nginx
                    .answer_challenge(answer)
                    .await
                    .map_err(|e| OrderError::Failed(e.to_string()))?;
                challenge.set_ready().await.map_err(classify)?;
                tracing::info!(domain, "HTTP-01 challenge answered; the CA is checking it");
            }
            Ok(())
        }
        .await;
        let status = match result {
            Ok(()) => order.poll_ready(&poll()).await.map_err(classify),
            Err(e) => Err(e),
        };
        for token in &answered {
            if let Err(error) = nginx.forget_challenge(token).await {
                tracing::warn!(%error, "cannot take a challenge answer out of nginx's configuration");
            }
        }
        match status? {
            OrderStatus::Ready => {}
            _ => return Err(OrderError::Refused(why_invalid(&mut order).await)),
        }
        tracing::info!(domain, "the CA validated the challenge; finalizing");
        let key = order.finalize().await.map_err(classify)?;
        let chain = order.poll_certificate(&poll()).await.map_err(classify)?;
        Ok((chain, key))
    }
}

/// How an order's state is polled: soon, then every few seconds at most, for two minutes.
fn poll() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.25)
        .timeout(Duration::from_secs(120))
}

/// The CA's reason an order became invalid: its challenges' errors.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(a)) = authorizations.next().await {
        for c in &a.challenges {
            if let Some(p) = &c.error {
                reasons.push(problem(p));
            }
        }
    }
    if reasons.is_empty() {
        "the CA marked the order invalid".into()
    } else {
        reasons.join("; ")
    }
}
