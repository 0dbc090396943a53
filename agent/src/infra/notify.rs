//! Sending an alert notice through a channel: a webhook (the notice as
//! JSON), ntfy (text with a title, priority and tags), Slack- or
//! Discord-compatible webhooks (one line of text), or email over SMTP
//! (lettre, STARTTLS or TLS through rustls).

use std::time::Duration;

use appos_proto::alerts::{AlertNotice, AlertSeverity, ChannelConfig, NoticeKind, SmtpSecurity};

use crate::core::alerts::headline;

/// How long an SMTP exchange may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends `notice` through `channel`; the error says what went wrong, for the log and the test call.
pub async fn send(channel: &ChannelConfig, notice: &AlertNotice) -> Result<(), String> {
    let a = &notice.alert;
    let title = headline(notice.notice, a.severity, &notice.server, &a.summary);
    match channel {
        ChannelConfig::Webhook { url } => {
            super::webhook::post(
                url,
                &serde_json::to_value(notice).map_err(|e| e.to_string())?,
            )
            .await
        }
        ChannelConfig::Slack { url } => {
            super::webhook::post(url, &serde_json::json!({ "text": title })).await
        }
        ChannelConfig::Discord { url } => {
            super::webhook::post(url, &serde_json::json!({ "content": title })).await
        }
        ChannelConfig::Ntfy { url, token } => {
            let (priority, tags) = match (notice.notice, a.severity) {
                (NoticeKind::Resolved, _) => ("3", "white_check_mark"),
                (_, AlertSeverity::Critical) => ("5", "rotating_light"),
                (_, AlertSeverity::Warning) => ("4", "warning"),
            };
            let mut headers = vec![
                (
                    "Title",
                    format!("{}: {}", notice.server, a.rule.as_str().replace('_', " ")),
                ),
                ("Priority", priority.to_string()),
                ("Tags", tags.to_string()),
            ];
            if let Some(t) = token {
                headers.push(("Authorization", format!("Bearer {t}")));
            }
            super::webhook::post_with(url, "text/plain; charset=utf-8", &headers, title).await
        }
        ChannelConfig::Email {
            host,
            port,
            security,
            username,
            password,
            from,
            to,
        } => {
            email(
                host,
                *port,
                *security,
                username.as_deref(),
                password.as_deref(),
                from,
                to,
                &title,
                &body_text(notice),
            )
            .await
        }
    }
}

/// The text of an email: the summary, then the facts.
fn body_text(notice: &AlertNotice) -> String {
    let a = &notice.alert;
    let mut out = format!(
        "{}\n\nServer: {}\nRule: {}\nSubject: {}\n",
        a.summary,
        notice.server,
        a.rule.as_str(),
        a.subject
    );
    if let Some(app) = &a.app {
        out.push_str(&format!("App: {app}\n"));
    }
    out.push_str(&format!("Fired: {}\n", rfc3339(a.fired_at_ms)));
    if let Some(at) = a.resolved_at_ms {
        out.push_str(&format!("Resolved: {}\n", rfc3339(at)));
    }
    if let Some(details) = a.details.as_object().filter(|d| !d.is_empty()) {
        out.push('\n');
        for (k, v) in details {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    out
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn email(
    host: &str,
    port: u16,
    security: SmtpSecurity,
    username: Option<&str>,
    password: Option<&str>,
    from: &str,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

    let mut message = Message::builder()
        .from(from.parse().map_err(|e| format!("from {from:?}: {e}"))?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for t in to {
        message = message.to(t.parse().map_err(|e| format!("to {t:?}: {e}"))?);
    }
    let message = message.body(body.to_string()).map_err(|e| e.to_string())?;
    let tls = match security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls => {
            Tls::Required(TlsParameters::new(host.to_string()).map_err(|e| e.to_string())?)
        }
        SmtpSecurity::Tls => {
            Tls::Wrapper(TlsParameters::new(host.to_string()).map_err(|e| e.to_string())?)
        }
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some(user) = username {
        transport = transport.credentials(Credentials::new(
            user.to_string(),
            password.unwrap_or_default().to_string(),
        ));
    }
    transport
        .build()
        .send(message)
        .await
        .map(drop)
        .map_err(|e| format!("SMTP {host}:{port}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use appos_proto::alerts::{Alert, AlertRule, AlertState};

    #[test]
    fn an_email_says_what_fired_where_and_the_facts() {
        let notice = AlertNotice {
            notice: NoticeKind::Firing,
            server: "srv1".into(),
            alert: Alert {
                id: 3,
                rule: AlertRule::RestartLoop,
                subject: "blog-web-1".into(),
                app: Some("blog".into()),
                severity: AlertSeverity::Critical,
                state: AlertState::Firing,
                summary: "blog-web-1 (blog/web) exited 3 times in the last 10 min".into(),
                details: serde_json::json!({ "exits": 3, "service": "web" }),
                fired_at_ms: 1_796_073_474_000,
                resolved_at_ms: None,
                notices: 1,
            },
        };
        assert_eq!(
            body_text(&notice),
            "blog-web-1 (blog/web) exited 3 times in the last 10 min\n\nServer: srv1\nRule: restart_loop\nSubject: blog-web-1\nApp: blog\nFired: 2026-11-30T21:17:54Z\n\nexits: 3\nservice: web\n"
        );
    }
}
