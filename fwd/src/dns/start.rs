//! Resolving every name of the file at once: at the start of `fwd attach`
//! (where a name that does not resolve stops fwd) and for `fwd check`.

use std::collections::BTreeMap;

use tokio::task::JoinSet;

use super::{expand::names, Answer, Answers, LookupError, Resolver, Servers, SetupError};
use crate::{config::Config, text::error_chain};

/// The good answers, by name.
pub type Resolved = BTreeMap<String, Answer>;

/// The addresses of each answer.
pub fn answers_of(resolved: &Resolved) -> Answers {
    resolved
        .iter()
        .map(|(name, a)| (name.clone(), a.addrs.clone()))
        .collect()
}

/// A backend name that gave no address at start.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: service {service:?}: backend {backend} does not resolve (asked {servers})")]
pub struct Unresolved {
    /// The first service that names it.
    pub service: String,
    /// Line of that backend entry.
    pub line: usize,
    /// The backend as written (`name:port`).
    pub backend: String,
    /// The servers asked.
    pub servers: String,
    /// Why.
    #[source]
    pub source: LookupError,
}

/// Why `fwd attach` does not start: a name that does not resolve now gives
/// no backend, and fwd refuses to start short of backends the file names.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No resolver.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// No async runtime could be started to resolve.
    #[error("starting a runtime to resolve backend names")]
    Runtime(#[source] std::io::Error),
    /// Names without an address.
    #[error("{}; fwd does not start without the backends of the file: check the names and the DNS servers (or `[relay] dns_servers`), or give addresses", list(.0))]
    Unresolved(Vec<Unresolved>),
}

fn list(names: &[Unresolved]) -> String {
    let all: Vec<String> = names.iter().map(|u| error_chain(u)).collect();
    match all.as_slice() {
        [one] => one.clone(),
        many => format!(
            "{} backend names do not resolve:\n  {}",
            many.len(),
            many.join("\n  ")
        ),
    }
}

/// Looks every name up at once.
pub async fn resolve_names(
    resolver: &Resolver,
    names: impl IntoIterator<Item = String>,
) -> BTreeMap<String, Result<Answer, LookupError>> {
    let mut set = JoinSet::new();
    for name in names {
        let resolver = resolver.clone();
        set.spawn(async move {
            let result = resolver.lookup(&name).await;
            (name, result)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = set.join_next().await {
        if let Ok((name, result)) = joined {
            out.insert(name, result);
        }
    }
    out
}

/// Resolves every name of `config` with the servers it says: every answer,
/// or every name that failed (with the line of its first use).
pub async fn resolve_all(config: &Config) -> Result<Resolved, StartError> {
    let used = names(config);
    if used.is_empty() {
        return Ok(Resolved::new());
    }
    let resolver = Resolver::new(Servers::of(&config.dns_servers))?;
    let mut results = resolve_names(&resolver, used.into_keys()).await;
    let mut failed = Vec::new();
    let mut resolved = Resolved::new();
    for s in &config.services {
        for n in &s.names {
            match results.remove(&n.name) {
                Some(Ok(answer)) => {
                    resolved.insert(n.name.clone(), answer);
                }
                Some(Err(source)) => failed.push(Unresolved {
                    service: s.name.clone(),
                    line: n.at.line,
                    backend: n.to_string(),
                    servers: resolver.servers().to_string(),
                    source,
                }),
                // Already reported or resolved for an earlier service.
                None => {}
            }
        }
    }
    if failed.is_empty() {
        Ok(resolved)
    } else {
        Err(StartError::Unresolved(failed))
    }
}

/// Runs `fut` to completion from a blocking thread: on the current tokio
/// runtime if there is one (a reload runs on its blocking threads), else
/// on a small runtime of its own (`fwd check`).
fn block_on<T>(fut: impl std::future::Future<Output = T>) -> Result<T, std::io::Error> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(fut)),
        Err(_) => Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fut)),
    }
}

/// For a reload (blocking): resolves the names of `config` that `known`
/// has no answer for, as [`resolve_all`] does at start (a name that does
/// not resolve refuses the reload). Names already known keep their answer
/// until their TTL ends.
pub fn resolve_new_blocking(config: &Config, known: &Answers) -> Result<Resolved, StartError> {
    let mut missing = config.clone();
    for s in &mut missing.services {
        s.names.retain(|n| !known.contains_key(&n.name));
    }
    if names(&missing).is_empty() {
        return Ok(Resolved::new());
    }
    block_on(resolve_all(&missing)).map_err(StartError::Runtime)?
}

/// For `fwd check` (blocking): every name of `config` and what it resolves
/// to now, failures included; `Err` when no resolver could be set up.
pub fn check_names(
    config: &Config,
) -> Result<BTreeMap<String, Result<Answer, LookupError>>, StartError> {
    let used = names(config);
    if used.is_empty() {
        return Ok(BTreeMap::new());
    }
    let resolver = Resolver::new(Servers::of(&config.dns_servers))?;
    block_on(resolve_names(&resolver, used.into_keys())).map_err(StartError::Runtime)
}
