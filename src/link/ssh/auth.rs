//! Public-key authentication, in OpenSSH's order: the keys ssh-agent holds (SSH_AUTH_SOCK),
//! then the identity files from ~/.ssh/config (or the defaults). RSA keys sign with SHA-2
//! (OpenSSH ≥ 8.8 refuses SHA-1). Passwords and passphrases are never asked for: an
//! encrypted key file that the agent does not hold gets a message saying to `ssh-add` it.

use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};

use super::session::{Client, display_addr};
use super::target::Target;
use crate::link::LinkError;

/// Tries every key until one is accepted. Errors list what was tried.
pub async fn authenticate(
    handle: &mut Handle<Client>,
    name: &str,
    hop: &Target,
) -> Result<(), LinkError> {
    let mut tried = Vec::new();
    let file_keys: Vec<(std::path::PathBuf, Option<PublicKey>)> = hop
        .identity_files
        .iter()
        .filter(|p| p.exists())
        .map(|p| {
            (
                p.clone(),
                russh::keys::load_public_key(p.with_extension("pub")).ok(),
            )
        })
        .collect();

    if let Some(mut agent) = agent(hop).await {
        let identities = agent.request_identities().await.unwrap_or_default();
        for id in identities {
            let AgentIdentity::PublicKey { key, comment } = id else {
                continue;
            };
            // IdentitiesOnly: only agent keys that belong to a configured identity file.
            if hop.identities_only
                && !file_keys.iter().any(|(_, pk)| {
                    pk.as_ref()
                        .is_some_and(|pk| pk.key_data() == key.key_data())
                })
            {
                continue;
            }
            let hash = rsa_hash(handle, &key).await;
            tried.push(format!(
                "agent key {}",
                if comment.is_empty() {
                    key.algorithm().to_string()
                } else {
                    comment
                }
            ));
            match handle
                .authenticate_publickey_with(&hop.user, key, hash, &mut agent)
                .await
            {
                Ok(r) if r.success() => return Ok(()),
                Ok(_) => {}
                // The agent declined to sign (a confirm-constrained key, a locked agent): next.
                Err(e) => tracing::debug!(host = name, "agent could not sign: {e:?}"),
            }
        }
    }

    let mut encrypted = None;
    for (path, _) in &file_keys {
        let shown = path.display().to_string();
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                encrypted.get_or_insert(shown);
                continue;
            }
            Err(e) => {
                tracing::warn!(host = name, file = %shown, "cannot load identity: {e}");
                continue;
            }
        };
        let hash = rsa_hash(handle, key.public_key()).await;
        tried.push(shown);
        let result = handle
            .authenticate_publickey(&hop.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| LinkError::Ssh {
                host: name.to_owned(),
                message: format!("authentication: {e}"),
            })?;
        if result.success() {
            return Ok(());
        }
    }
    if let Some(path) = encrypted {
        return Err(LinkError::EncryptedKey {
            host: name.to_owned(),
            path,
        });
    }
    Err(LinkError::Auth {
        host: name.to_owned(),
        addr: display_addr(&hop.host_name, hop.port),
        user: hop.user.clone(),
        tried: if tried.is_empty() {
            "no keys: start ssh-agent or create ~/.ssh/id_ed25519".to_owned()
        } else {
            tried.join(", ")
        },
    })
}

/// The agent IdentityAgent names (default SSH_AUTH_SOCK), if it is set and answers.
async fn agent(hop: &Target) -> Option<AgentClient<tokio::net::UnixStream>> {
    match hop.identity_agent.as_deref() {
        Some("none") => None,
        None | Some("SSH_AUTH_SOCK") => AgentClient::connect_env().await.ok(),
        Some(path) => AgentClient::connect_uds(path).await.ok(),
    }
}

/// The SHA-2 variant the server supports for RSA keys; None for other key types.
async fn rsa_hash(handle: &Handle<Client>, key: &PublicKey) -> Option<HashAlg> {
    if !key.algorithm().is_rsa() {
        return None;
    }
    // Servers that do not announce server-sig-algs: assume SHA-256, which every OpenSSH ≥ 7.2 takes.
    handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten()
        .or(Some(HashAlg::Sha256))
}
