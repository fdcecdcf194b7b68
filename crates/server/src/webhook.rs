//! The optional outgoing webhook (issue 6): a POST on every frozen verdict, every promotion
//! and every alert a launch's watch raises (issue 23), signed so the receiver can trust it.
//!
//! Body: `{"event": "verdict" | "promotion" | "alert", "sent_at", "data": {...}}`. Headers:
//! `X-Rctgate-Event` (the event) and `X-Rctgate-Signature: sha256=HEX`, the HMAC-SHA256 of the
//! exact body bytes under the shared secret (GitHub's scheme, so existing verifiers work).
//! Delivery runs off the request path, with three attempts (1 s, 4 s apart); a receiver that
//! stays down is logged, never blocks a stop or a promotion. Plain `http://` URLs only (the
//! build carries no TLS stack); put an HTTPS relay behind it if the receiver is remote.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// Where and how to send; `None` when no webhook is configured.
#[derive(Clone, Default)]
pub struct Webhook {
    target: Option<Arc<Target>>,
}

struct Target {
    url: String,
    secret: String,
}

impl Webhook {
    /// A webhook to `url` signed with `secret`.
    pub fn new(url: String, secret: String) -> Webhook {
        Webhook {
            target: Some(Arc::new(Target { url, secret })),
        }
    }

    /// Sends `event` with `data` in the background (no-op without a webhook).
    pub fn send(&self, event: &'static str, data: Value) {
        let Some(target) = self.target.clone() else {
            return;
        };
        let body = json!({
            "event": event,
            "sent_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        })
        .to_string();
        tokio::task::spawn_blocking(move || deliver(&target, event, &body));
    }
}

/// `sha256=HEX` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn deliver(target: &Target, event: &str, body: &str) {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    );
    let signed = signature(&target.secret, body.as_bytes());
    for (attempt, pause) in [0u64, 1, 4].into_iter().enumerate() {
        std::thread::sleep(Duration::from_secs(pause));
        let outcome = agent
            .post(&target.url)
            .header("Content-Type", "application/json")
            .header("X-Rctgate-Event", event)
            .header("X-Rctgate-Signature", &signed)
            .send(body);
        match outcome {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                tracing::warn!(
                    attempt,
                    status = response.status().as_u16(),
                    event,
                    "webhook refused"
                )
            }
            Err(err) => tracing::warn!(attempt, error = %err, event, "webhook unreachable"),
        }
    }
    tracing::error!(event, "webhook not delivered after 3 attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
