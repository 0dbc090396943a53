//! A viewer's end of an agent terminal session: a WebSocket pumped by a task
//! into two channels, so that front ends deal only in bytes and messages.

use appos_proto::TerminalControl;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// What a viewer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermIn {
    Bytes(Bytes),
    Resize {
        cols: u16,
        rows: u16,
    },
    /// No more input (closes the command's stdin).
    Eof,
}

/// What a viewer receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermOut {
    /// Terminal output. On a session without a TTY, the first byte says
    /// which stream: 1 stdout, 2 stderr.
    Bytes(Bytes),
    /// The replayed screen has been delivered; what follows is live.
    Replayed,
    /// The process ended with this status.
    Exit(i64),
    /// This viewer fell behind and was cut off; attach again for the replay.
    Lagged,
}

pub struct TerminalIo {
    pub input: mpsc::UnboundedSender<TermIn>,
    pub output: mpsc::Receiver<TermOut>,
}

impl TerminalIo {
    pub(crate) fn pump<S>(ws: tokio_tungstenite::WebSocketStream<S>) -> TerminalIo
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<TermIn>();
        let (out_tx, out_rx) = mpsc::channel::<TermOut>(256);
        let (mut sink, mut stream) = ws.split();
        tokio::spawn(async move {
            while let Some(i) = in_rx.recv().await {
                let msg = match i {
                    TermIn::Bytes(b) => Message::Binary(b),
                    TermIn::Resize { cols, rows } => {
                        control(&TerminalControl::Resize { cols, rows })
                    }
                    TermIn::Eof => control(&TerminalControl::Eof),
                };
                if sink.send(msg).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let out = match msg {
                    Message::Binary(b) => TermOut::Bytes(b),
                    Message::Text(t) => match serde_json::from_str::<TerminalControl>(&t) {
                        Ok(TerminalControl::Replayed) => TermOut::Replayed,
                        Ok(TerminalControl::Exit { status }) => TermOut::Exit(status),
                        Ok(TerminalControl::Lagged) => TermOut::Lagged,
                        _ => continue,
                    },
                    Message::Close(_) => break,
                    _ => continue,
                };
                if out_tx.send(out).await.is_err() {
                    break;
                }
            }
        });
        TerminalIo {
            input: in_tx,
            output: out_rx,
        }
    }
}

fn control(c: &TerminalControl) -> Message {
    Message::Text(serde_json::to_string(c).unwrap_or_default().into())
}
