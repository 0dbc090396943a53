//! Terminal sessions against a real agent, dockerd and sshd: exec with
//! output and exit codes, resize seen by `stty size`, the replayed screen for
//! a viewer who comes back, two viewers seeing the same bytes, 10 MB intact
//! through SSH and the agent, a PTY on the server over SSH itself, and the
//! limits (read-only tokens, the session cap, idle expiry).

use std::process::{Command, Output};
use std::time::Duration;

use appos_client::terminal::{TermIn, TermOut, TerminalIo};
use appos_client::{Client, ClientError, Transport};
use appos_proto::calls::{KillTerminal, ListTerminals, OpenTerminal};
use appos_proto::{AppName, FieldError, NewTerminal, Problem, ProblemCode, ServiceName};
use appos_test_support as support;
use bytes::Bytes;

const WAIT: Duration = Duration::from_secs(20);

struct Env {
    agent: support::Agent,
    token: String,
    home: tempfile::TempDir,
    app: String,
    _stack: support::ComposeStack,
}

impl Env {
    fn start(vars: &[(&str, &str)]) -> Option<Env> {
        support::require("dockerd", support::docker())?;
        let agent = support::Agent::start_env(&[], vars).expect("agent");
        let token = agent.issue_token("term", "admin").expect("token");
        let home = tempfile::tempdir().expect("home");
        let app = support::unique("term");
        let stack =
            support::ComposeStack::up(&app, &support::two_service_compose()).expect("stack");
        Some(Env {
            agent,
            token,
            home,
            app,
            _stack: stack,
        })
    }

    fn client(&self) -> Client {
        Client::new(
            Transport::Unix(self.agent.socket()),
            Some(self.token.clone()),
        )
    }

    fn appos(&self, args: &[&str]) -> Output {
        support::appos(self.home.path())
            .args(args)
            .output()
            .expect("run appos")
    }

    fn exec(&self, command: &[&str], tty: bool) -> NewTerminal {
        NewTerminal::Exec {
            app: AppName::parse(&self.app).expect("app"),
            service: ServiceName::parse("worker").expect("service"),
            command: command.iter().map(|s| s.to_string()).collect(),
            tty,
            cols: Some(100),
            rows: Some(30),
        }
    }
}

/// Reads output until `want` appears (or the session ends); returns it all.
async fn read_until(io: &mut TerminalIo, want: &str) -> String {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !String::from_utf8_lossy(&seen).contains(want) {
        match tokio::time::timeout_at(deadline, io.output.recv()).await {
            Ok(Some(TermOut::Bytes(b))) => seen.extend_from_slice(&b),
            Ok(Some(TermOut::Replayed)) => {}
            Ok(Some(TermOut::Exit(s))) => panic!(
                "exited ({s}) before {want:?}: {}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(Some(TermOut::Lagged)) => panic!("cut off for falling behind before {want:?}"),
            Ok(None) => panic!(
                "stream ended before {want:?}: {}",
                String::from_utf8_lossy(&seen)
            ),
            Err(_) => panic!(
                "no {want:?} within {WAIT:?}: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Reads a flood of output until `want` appears, keeping only its tail.
async fn drain_until(io: &mut TerminalIo, want: &str) {
    let mut tail: Vec<u8> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::time::timeout_at(deadline, io.output.recv()).await {
            Ok(Some(TermOut::Bytes(b))) => {
                tail.extend_from_slice(&b);
                if String::from_utf8_lossy(&tail).contains(want) {
                    return;
                }
                let keep = tail.len().saturating_sub(want.len());
                tail.drain(..keep);
            }
            Ok(Some(TermOut::Replayed)) => {}
            Ok(Some(TermOut::Lagged)) => panic!("this viewer kept up, yet was cut off"),
            other => panic!("no {want:?}: {other:?}"),
        }
    }
}

fn send(io: &TerminalIo, s: &str) {
    io.input
        .send(TermIn::Bytes(Bytes::copy_from_slice(s.as_bytes())))
        .expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_resize_replay_and_two_viewers() {
    let Some(env) = Env::start(&[]) else { return };
    let c = env.client();

    // A TTY exec into the container: its size is the one asked for, then the new one.
    let t = c
        .call(&OpenTerminal {
            request: env.exec(&["/bin/sh"], true),
        })
        .await
        .expect("open");
    assert_eq!(
        (t.kind.as_str(), t.tty, t.cols, t.rows),
        ("exec", true, 100, 30)
    );
    let mut a = c.attach_terminal(&t.id).await.expect("attach");
    send(&a, "stty size\n");
    read_until(&mut a, "30 100").await;
    a.input
        .send(TermIn::Resize {
            cols: 120,
            rows: 40,
        })
        .expect("resize");
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&a, "stty size\n");
    read_until(&mut a, "40 120").await;

    // A second viewer first gets the screen so far, then the same live bytes.
    let mut b = c.attach_terminal(&t.id).await.expect("second viewer");
    let replay = read_until(&mut b, "40 120").await;
    assert!(
        replay.contains("30 100"),
        "the replay holds the earlier output: {replay}"
    );
    send(&a, "echo both-$((6*7))\n");
    read_until(&mut a, "both-42").await;
    read_until(&mut b, "both-42").await;
    assert_eq!(
        c.call(&ListTerminals {})
            .await
            .expect("list")
            .iter()
            .find(|x| x.id == t.id)
            .map(|x| x.viewers),
        Some(2)
    );

    // Both leave; the session stays; a new viewer sees the screen replayed.
    drop(a);
    drop(b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed = c.call(&ListTerminals {}).await.expect("list");
    assert_eq!(
        listed.iter().find(|x| x.id == t.id).map(|x| x.viewers),
        Some(0),
        "{listed:?}"
    );
    let mut again = c.attach_terminal(&t.id).await.expect("reattach");
    let replay = read_until(&mut again, "both-42").await;
    assert!(replay.contains("stty size"), "{replay}");
    send(&again, "exit 3\n");
    let status = loop {
        match tokio::time::timeout(WAIT, again.output.recv())
            .await
            .expect("exit in time")
        {
            Some(TermOut::Exit(s)) => break s,
            Some(_) => {}
            None => panic!("no exit status"),
        }
    };
    assert_eq!(status, 3);

    // Without a TTY: stdout and stderr apart, stdin to EOF, the exit status.
    let t = c
        .call(&OpenTerminal {
            request: env.exec(&["/bin/sh", "-c", "cat; echo oops >&2; exit 5"], false),
        })
        .await
        .expect("open");
    // A read token sees the session, not the command's arguments (they may hold secrets).
    let reader = Client::new(
        Transport::Unix(env.agent.socket()),
        Some(env.agent.issue_token("look", "read").expect("token")),
    );
    let seen = reader
        .call(&ListTerminals {})
        .await
        .expect("list")
        .into_iter()
        .find(|x| x.id == t.id)
        .expect("listed");
    assert_eq!(seen.command, ["/bin/sh"]);
    let full = c
        .call(&ListTerminals {})
        .await
        .expect("list")
        .into_iter()
        .find(|x| x.id == t.id)
        .expect("listed");
    assert_eq!(
        full.command,
        ["/bin/sh", "-c", "cat; echo oops >&2; exit 5"]
    );
    let mut io = c.attach_terminal(&t.id).await.expect("attach");
    send(&io, "from stdin\n");
    io.input.send(TermIn::Eof).expect("eof");
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), None);
    while let Ok(Some(m)) = tokio::time::timeout(WAIT, io.output.recv()).await {
        match m {
            TermOut::Bytes(b) if b.first() == Some(&1) => out.extend_from_slice(&b[1..]),
            TermOut::Bytes(b) if b.first() == Some(&2) => err.extend_from_slice(&b[1..]),
            TermOut::Exit(s) => {
                status = Some(s);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(
        (out.as_slice(), err.as_slice(), status),
        (&b"from stdin\n"[..], &b"oops\n"[..], Some(5))
    );

    // Bad input changes nothing; each refusal says exactly what is wrong.
    let before = c.call(&ListTerminals {}).await.expect("list").len();
    for (body, field, message) in [
        (
            serde_json::json!({"exec": {"app": "../x", "service": "worker"}}),
            "exec.app",
            AppName::RULE,
        ),
        (
            serde_json::json!({"exec": {"app": env.app, "service": "a;b"}}),
            "exec.service",
            ServiceName::RULE,
        ),
        (
            serde_json::json!({"exec": {"app": env.app, "service": "worker", "command": ["a\u{0}b"]}}),
            "command",
            "the command is too long or contains NUL",
        ),
    ] {
        let r = c
            .request_raw(
                http::Method::POST,
                "/v1/terminals",
                Some(body.to_string().into_bytes()),
            )
            .await
            .expect("request");
        let p: Problem = serde_json::from_slice(&r.body).expect("problem");
        assert_eq!(
            (r.status.as_u16(), p.code),
            (400, ProblemCode::InvalidInput),
            "{body}: {p:?}"
        );
        assert_eq!(p.errors, [FieldError::new(field, message)], "{body}");
    }
    let nope = NewTerminal::Exec {
        app: AppName::parse(&env.app).expect("app"),
        service: ServiceName::parse("nope").expect("service"),
        command: vec![],
        tty: true,
        cols: None,
        rows: None,
    };
    match c.call(&OpenTerminal { request: nope }).await {
        Err(ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (409, ProblemCode::NoContainer), "{p:?}");
            assert_eq!(
                p.detail,
                Some(format!(
                    "{} has no running container for service \"nope\"",
                    env.app
                ))
            );
        }
        other => panic!("a terminal in a service that does not exist: {other:?}"),
    }
    match c.attach_terminal("term-0000000000000000").await {
        Err(ClientError::Api(p)) => {
            assert_eq!(
                (p.status, p.code),
                (404, ProblemCode::TerminalNotFound),
                "{p:?}"
            );
            assert_eq!(
                p.detail.as_deref(),
                Some("no terminal term-0000000000000000")
            );
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("attached to nothing"),
    }
    assert_eq!(
        c.call(&ListTerminals {}).await.expect("list").len(),
        before,
        "no session was opened"
    );
}

/// The CLI: exit codes and pipes, 10 MB checksummed through SSH and the
/// agent, and `appos ssh` running a command on the server over SSH itself.
#[test]
fn the_cli_through_ssh_keeps_bytes_and_exit_codes() {
    let Some(env) = Env::start(&[]) else { return };
    let Some(sshd) = support::require("sshd", support::Sshd::start()) else {
        return;
    };
    let key = sshd.user_key.private.display().to_string();
    let (url, sock, boot) = (
        sshd.url(),
        env.agent.socket().display().to_string(),
        env.agent.bootstrap_cmd(),
    );
    let o = env.appos(&[
        "server",
        "add",
        "box",
        &url,
        "--identity",
        &key,
        "--agent-socket",
        &sock,
        "--bootstrap-cmd",
        &boot,
        "--accept-new-host-key",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = env.appos(&[
        "exec",
        &env.app,
        "--service",
        "worker",
        "--",
        "/bin/sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(
        (
            String::from_utf8_lossy(&o.stdout).as_ref(),
            String::from_utf8_lossy(&o.stderr).as_ref()
        ),
        ("out\n", "err\n")
    );

    // 10 MiB of random bytes, checksummed on both ends.
    let o = env.appos(&[
        "exec",
        &env.app,
        "--service",
        "worker",
        "--",
        "/bin/sh",
        "-c",
        "head -c 10485760 /dev/urandom > /tmp/big; cat /tmp/big",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout.len(), 10 << 20);
    let here = {
        use sha2::Digest as _;
        format!("{:x}", sha2::Sha256::digest(&o.stdout))
    };
    let there = Command::new(support::docker_cli())
        .args([
            "exec",
            &format!("{}_worker_1", env.app),
            "sha256sum",
            "/tmp/big",
        ])
        .output()
        .expect("docker exec");
    let there = String::from_utf8_lossy(&there.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(here, there);

    // Several services: the CLI asks which.
    let o = env.appos(&["exec", &env.app, "--", "true"]);
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--service"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A PTY on the server itself, over SSH.
    let mut child = support::appos(env.home.path())
        .args(["ssh", "box"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("appos ssh");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"echo on-the-server-$((20+3)); exit 4\n")
            .expect("write");
    }
    let o = child.wait_with_output().expect("wait");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("on-the-server-23"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(o.status.code(), Some(4));

    // Nothing is left open.
    let o = env.appos(&["terminals", "--server", "box", "--output", "json"]);
    let ts: Vec<appos_proto::Terminal> = serde_json::from_slice(&o.stdout).expect("json");
    assert!(ts.is_empty(), "{ts:?}");
}

/// Read-only tokens cannot open or attach; the number of sessions is capped;
/// an idle session expires; a shell runs in the agent's environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_the_agent_shell() {
    let Some(env) = Env::start(&[
        ("APPOS_MAX_TERMINALS", "2"),
        ("APPOS_TERMINAL_IDLE_SECS", "10"),
    ]) else {
        return;
    };
    let c = env.client();
    let reader = Client::new(
        Transport::Unix(env.agent.socket()),
        Some(env.agent.issue_token("viewer", "read").expect("token")),
    );

    let t = c
        .call(&OpenTerminal {
            request: NewTerminal::Shell {
                cols: Some(90),
                rows: Some(20),
            },
        })
        .await
        .expect("shell");
    assert_eq!(t.kind, "shell");
    let mut io = c.attach_terminal(&t.id).await.expect("attach");
    send(&io, "echo TERM=$TERM; stty size\n");
    let seen = read_until(&mut io, "20 90").await;
    assert!(seen.contains("TERM=xterm-256color"), "{seen}");

    match reader
        .call(&OpenTerminal {
            request: NewTerminal::Shell {
                cols: None,
                rows: None,
            },
        })
        .await
    {
        Err(ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden), "{p:?}")
        }
        other => panic!("a read-only token opened a terminal: {other:?}"),
    }
    match reader.attach_terminal(&t.id).await {
        Err(ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden), "{p:?}");
            assert_eq!(
                p.detail.as_deref(),
                Some("terminals need an admin or deploy token")
            );
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a read-only token attached"),
    }
    assert_eq!(
        reader.call(&ListTerminals {}).await.expect("list").len(),
        1,
        "listing is reading"
    );
    // A deploy token: container shells yes, a shell next to the agent no (neither a new one nor the admin's).
    let deployer = Client::new(
        Transport::Unix(env.agent.socket()),
        Some(env.agent.issue_token("ci", "deploy").expect("token")),
    );
    match deployer
        .call(&OpenTerminal {
            request: NewTerminal::Shell {
                cols: None,
                rows: None,
            },
        })
        .await
    {
        Err(ClientError::Api(p)) => {
            assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden), "{p:?}");
            assert_eq!(
                p.detail.as_deref(),
                Some("a shell next to the agent needs an admin token")
            );
        }
        other => panic!("a deploy token opened an agent shell: {other:?}"),
    }
    match deployer.attach_terminal(&t.id).await {
        Err(ClientError::Api(p)) => assert_eq!(
            (p.status, p.code, p.detail.as_deref()),
            (
                403,
                ProblemCode::Forbidden,
                Some("a shell next to the agent needs an admin token")
            )
        ),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a deploy token attached to an agent shell"),
    }
    match deployer.call(&KillTerminal { id: t.id.clone() }).await {
        Err(ClientError::Api(p)) => assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden)),
        other => panic!("a deploy token ended an agent shell: {other:?}"),
    }
    match deployer.call(&appos_proto::calls::ListTokens {}).await {
        Err(ClientError::Api(p)) => assert_eq!((p.status, p.code), (403, ProblemCode::Forbidden)),
        other => panic!("a deploy token listed tokens: {other:?}"),
    }

    let second = c
        .call(&OpenTerminal {
            request: env.exec(&[], true),
        })
        .await
        .expect("second");
    assert!(
        second.command[0].ends_with("sh"),
        "the container's shell: {:?}",
        second.command
    );
    match c
        .call(&OpenTerminal {
            request: NewTerminal::Shell {
                cols: None,
                rows: None,
            },
        })
        .await
    {
        Err(ClientError::Api(p)) => {
            assert_eq!(
                (p.status, p.code),
                (429, ProblemCode::TooManyTerminals),
                "{p:?}"
            );
            assert_eq!(
                p.detail.as_deref(),
                Some("2 terminals are open, the most this agent allows; close one first")
            );
        }
        other => panic!("a third session was opened: {other:?}"),
    }

    // The watched session stays; the unwatched one expires after 10 s idle.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ids: Vec<String> = c
            .call(&ListTerminals {})
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.id)
            .collect();
        if !ids.contains(&second.id) {
            assert!(ids.contains(&t.id), "the watched session stays: {ids:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the idle session never expired"
        );
        send(&io, "\n");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    c.call(&KillTerminal { id: t.id.clone() })
        .await
        .expect("kill");
    let end = loop {
        match tokio::time::timeout(WAIT, io.output.recv())
            .await
            .expect("ends")
        {
            Some(TermOut::Exit(s)) => break s,
            Some(_) => {}
            None => break -999,
        }
    };
    assert_ne!(end, 0, "killed, not exited normally");
    assert!(c.call(&ListTerminals {}).await.expect("list").is_empty());
}

/// A stalled viewer never slows the others: while one viewer reads a flood
/// to its end, another that reads nothing is cut off once its own queue is
/// full ("lagged"), and attaching again gives it the screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_viewer_is_cut_off_and_reattaches() {
    let Some(env) = Env::start(&[]) else { return };
    let c = env.client();
    let t = c
        .call(&OpenTerminal {
            request: NewTerminal::Shell {
                cols: Some(80),
                rows: Some(24),
            },
        })
        .await
        .expect("shell");
    let mut fast = c.attach_terminal(&t.id).await.expect("attach");
    let mut stalled = c.attach_terminal(&t.id).await.expect("attach");
    send(&fast, "echo READY-$((1+1))\n");
    read_until(&mut fast, "READY-2").await;
    // About 15 MB of output: far more than the stalled viewer's queue and buffers hold.
    send(&fast, "seq 1 2000000; echo FLOOD-$((40+2))\n");
    drain_until(&mut fast, "FLOOD-42").await;
    // The stalled viewer gets what was queued for it, then the cut-off.
    let mut got = 0usize;
    loop {
        match tokio::time::timeout(WAIT, stalled.output.recv()).await {
            Ok(Some(TermOut::Bytes(b))) => got += b.len(),
            Ok(Some(TermOut::Replayed)) => {}
            Ok(Some(TermOut::Lagged)) => break,
            other => {
                panic!("expected the stalled viewer to be cut off after {got} bytes, got {other:?}")
            }
        }
    }
    assert!(
        got < 15_000_000,
        "it was cut off before the end ({got} bytes)"
    );
    // Attaching again: the replay holds the current screen.
    let mut again = c.attach_terminal(&t.id).await.expect("reattach");
    read_until(&mut again, "FLOOD-42").await;
    let _ = c.call(&KillTerminal { id: t.id.clone() }).await;
}
