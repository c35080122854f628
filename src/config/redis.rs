//! `[[host.redis]]`: a Redis server watched from its host, reached over the link like
//! PostgreSQL (its socket or an address as the host sees it). The password comes from this
//! machine, never from the config file.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Interval, Source, Threshold};
use crate::collect::postgres::Endpoint;
use crate::collect::secret::SecretSource;

pub const INTERVAL: Duration = Duration::from_secs(10);
pub const ADDRESS: (&str, u16) = ("127.0.0.1", 6379);
pub const CLIENTS_ALERT_PCT: f64 = 90.0;
pub const MEMORY_ALERT_PCT: f64 = 90.0;
pub const LAG_ALERT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Shown in the UI; default "redis" (unique per host).
    #[serde(default)]
    pub name: Option<String>,
    /// The socket file on the host, instead of the address.
    #[serde(default)]
    pub socket: Option<String>,
    /// "host:port" as seen from the host; default 127.0.0.1:6379.
    #[serde(default)]
    pub address: Option<String>,
    /// An ACL user (Redis 6+); none: the default user.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_command: Option<String>,
    #[serde(default)]
    pub password_file: Option<String>,
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Connected clients, in percent of maxclients, that raise a warning.
    #[serde(default)]
    pub clients_alert_pct: Option<f64>,
    /// Used memory, in percent of maxmemory (when set), that raises a warning.
    #[serde(default)]
    pub memory_alert_pct: Option<f64>,
    /// A replica further behind than this is a warning.
    #[serde(default)]
    pub lag_alert: Option<Threshold>,
    /// Unsaved changes older than this (the last RDB save) are a warning; none: not judged.
    #[serde(default)]
    pub save_max_age: Option<Interval>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RedisSpec {
    pub name: String,
    pub endpoint: Endpoint,
    pub user: Option<String>,
    pub password: Option<SecretSource>,
    pub interval: Duration,
    pub clients_alert_pct: f64,
    pub memory_alert_pct: f64,
    pub lag_alert: Duration,
    pub save_max_age: Option<Duration>,
}

/// The `[[host.redis]]` entries of one host, checked, with defaults applied.
pub fn specs(
    entries: &[Spanned<RedisConfig>],
    source: Option<Source<'_>>,
) -> Result<Vec<RedisSpec>, ConfigError> {
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for entry in entries {
        let r = entry.get_ref();
        let fail =
            |message: String, help: &str| ConfigError::at(source, entry.span(), message, help);
        let name = r.name.clone().unwrap_or_else(|| "redis".to_owned());
        if !names.insert(name.clone()) {
            return Err(fail(
                format!("two Redis servers named `{name}` on this host"),
                "give each [[host.redis]] its own name",
            ));
        }
        let default = Endpoint::Tcp {
            host: ADDRESS.0.to_owned(),
            port: ADDRESS.1,
        };
        let endpoint = super::endpoint(&r.socket, &r.address, default, "6379")
            .map_err(|(message, help)| fail(message, &help))?;
        let sources = [
            r.password_env.clone().map(SecretSource::Env),
            r.password_command.clone().map(SecretSource::Command),
            r.password_file
                .as_deref()
                .map(|p| SecretSource::File(super::expand_home(p))),
        ];
        let password = super::at_most_one(sources).map_err(|()| {
            fail(
                "more than one password source".to_owned(),
                "set one of password_env, password_command or password_file",
            )
        })?;
        if r.user.is_some() && password.is_none() {
            return Err(fail(
                "`user` is set without a password source".to_owned(),
                "an ACL user logs in with a password: add password_env, password_command or password_file",
            ));
        }
        let pct = |key: &str, v: Option<f64>, default: f64| match v {
            Some(p) if !(1.0..=100.0).contains(&p) => Err(fail(
                format!("{key} = {p} is not a percentage"),
                "write a number from 1 to 100, e.g. 90",
            )),
            v => Ok(v.unwrap_or(default)),
        };
        out.push(RedisSpec {
            name,
            endpoint,
            user: r.user.clone(),
            password,
            interval: r.interval.map_or(INTERVAL, |i| i.0),
            clients_alert_pct: pct("clients_alert_pct", r.clients_alert_pct, CLIENTS_ALERT_PCT)?,
            memory_alert_pct: pct("memory_alert_pct", r.memory_alert_pct, MEMORY_ALERT_PCT)?,
            lag_alert: r.lag_alert.map_or(LAG_ALERT, |t| t.0),
            save_max_age: r.save_max_age.map(|i| i.0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<RedisSpec>, String> {
        #[derive(Deserialize)]
        struct Doc {
            redis: Vec<Spanned<RedisConfig>>,
        }
        let doc: Doc = toml::from_str(text).map_err(|e| e.to_string())?;
        let source = Source {
            path: std::path::Path::new("w.toml"),
            text,
        };
        specs(&doc.redis, Some(source)).map_err(|e| e.to_string())
    }

    #[test]
    fn redis_gets_defaults_and_mistakes_their_place() {
        let s = parse("[[redis]]\n").unwrap();
        assert_eq!(s[0].name, "redis");
        assert_eq!(
            s[0].endpoint,
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 6379
            }
        );
        assert_eq!((s[0].interval, s[0].password.clone()), (INTERVAL, None));
        let s = parse(
            "[[redis]]\nname = \"cache\"\nsocket = \"/run/redis/redis.sock\"\npassword_env = \"RPW\"\n",
        )
        .unwrap();
        assert_eq!(
            s[0].endpoint,
            Endpoint::Unix("/run/redis/redis.sock".into())
        );
        assert_eq!(s[0].password, Some(SecretSource::Env("RPW".into())));
        for (text, want) in [
            ("[[redis]]\naddress = \"x\"\n", "is not host:port"),
            (
                "[[redis]]\naddress = \"a:1\"\nsocket = \"/s\"\n",
                "both socket and address",
            ),
            (
                "[[redis]]\npassword_env = \"A\"\npassword_file = \"f\"\n",
                "more than one password source",
            ),
            ("[[redis]]\nuser = \"app\"\n", "without a password source"),
            ("[[redis]]\nmemory_alert_pct = 0\n", "is not a percentage"),
            ("[[redis]]\n[[redis]]\n", "two Redis servers named `redis`"),
            ("[[redis]]\npassword = \"x\"\n", "unknown field"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
