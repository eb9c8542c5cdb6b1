//! Parsing of `redis://`, `rediss://` and `unix://` URLs.
//!
//! The parameters are redis-py 3.5.2's `from_url` parameters, parsed strictly: a value that
//! does not parse, an unknown or repeated parameter, and an empty value are errors that name
//! the parameter (redis-py drops or passes such values through, and reads the string `False`
//! as true). User name, password, host and path are percent-decoded. TLS verification cannot
//! be turned off from a URL.

use std::path::PathBuf;
use std::time::Duration;

use resp_proto::Protocol;
use url::Url;

use crate::config::{Address, ConnectionConfig, Keepalive, TlsConfig};
use crate::secret::Secret;

/// A connection URL or setting that cannot be used, and which parameter is at fault.
///
/// The message never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid connection setting `{parameter}`: {reason}")]
pub struct ConfigError {
    parameter: String,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(parameter: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            parameter: parameter.into(),
            reason: reason.into(),
        }
    }

    /// The parameter at fault (`url`, `scheme`, `db`, `socket_timeout`, ...).
    pub fn parameter(&self) -> &str {
        &self.parameter
    }

    /// What is wrong with it, and what to do instead.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

pub(crate) fn parse(text: &str) -> Result<ConnectionConfig, ConfigError> {
    // redis-py writes credentials of a socket path as `unix://user:pass@/path`, which is not a
    // valid URL (user information needs a host), so they are taken off before parsing.
    let (text, unix_userinfo) = split_unix_userinfo(text);
    // The url crate's messages never quote the input, so they cannot leak a password.
    let url = Url::parse(&text).map_err(|e| ConfigError::new("url", format!("not a URL ({e})")))?;
    if url.fragment().is_some() {
        return Err(ConfigError::new(
            "fragment",
            "a connection URL has no #fragment; TLS verification in particular cannot be \
             changed from a URL",
        ));
    }
    let mut config = ConnectionConfig::default();
    let mut path_db = None;
    match url.scheme() {
        "redis" | "rediss" => {
            let host = match url.host() {
                Some(url::Host::Domain(name)) => decode("host", name)?.to_ascii_lowercase(),
                Some(url::Host::Ipv4(ip)) => ip.to_string(),
                Some(url::Host::Ipv6(ip)) => ip.to_string(),
                None => return Err(ConfigError::new("host", "the URL has no host")),
            };
            config.address = Address::Tcp {
                host,
                port: url.port().unwrap_or(6379),
            };
            if url.scheme() == "rediss" {
                config.tls = Some(TlsConfig::new());
            }
            let path = url.path().trim_start_matches('/');
            if !path.is_empty() {
                path_db = Some(parse_db(path)?);
            }
        }
        "unix" => {
            if url.host_str().is_some_and(|h| !h.is_empty()) {
                return Err(ConfigError::new(
                    "host",
                    "a unix:// URL has no host; write unix:///path/to/socket",
                ));
            }
            let path = decode("path", url.path())?;
            if path.is_empty() || path == "/" {
                return Err(ConfigError::new(
                    "path",
                    "the unix:// URL has no socket path",
                ));
            }
            config.address = Address::Unix(PathBuf::from(path));
        }
        other => {
            return Err(ConfigError::new(
                "scheme",
                format!("`{other}` is not one of redis://, rediss://, unix://"),
            ));
        }
    }
    let (username, password) = match &unix_userinfo {
        Some((user, password)) => (user.as_str(), password.as_deref()),
        None => (url.username(), url.password()),
    };
    if !username.is_empty() {
        config.username = Some(decode("username", username)?);
    }
    if let Some(password) = password {
        let password = decode("password", password)?;
        if !password.is_empty() {
            config.password = Some(Secret::new(password));
        }
    }
    apply_query(&url, &mut config, path_db)?;
    Ok(config)
}

/// Takes `user:pass@` off a `unix://user:pass@/path` URL.
fn split_unix_userinfo(text: &str) -> (String, Option<(String, Option<String>)>) {
    let Some(rest) = text.strip_prefix("unix://") else {
        return (text.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        // Only `user:pass@/path` is taken apart; `user:pass@host/path` is left to the URL
        // parser, and then refused for having a host.
        Some(at) if at + 1 == authority_end => {
            let userinfo = &rest[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user.to_owned(), Some(password.to_owned())),
                None => (userinfo.to_owned(), None),
            };
            (
                format!("unix://{}", &rest[authority_end..]),
                Some((user, password)),
            )
        }
        _ => (text.to_owned(), None),
    }
}

fn apply_query(
    url: &Url,
    config: &mut ConnectionConfig,
    path_db: Option<u32>,
) -> Result<(), ConfigError> {
    let tls = config.tls.is_some();
    let mut seen: Vec<String> = Vec::new();
    let mut query_db = None;
    let mut keepalive = false;
    let mut cert_file = None;
    let mut key_file = None;
    for (key, value) in url.query_pairs() {
        let key = key.into_owned();
        if seen.contains(&key) {
            return Err(ConfigError::new(key, "given more than once"));
        }
        seen.push(key.clone());
        if value.is_empty() {
            return Err(ConfigError::new(key, "has an empty value"));
        }
        let value = value.as_ref();
        let needs_tls = |key: &str| -> Result<(), ConfigError> {
            if tls {
                Ok(())
            } else {
                Err(ConfigError::new(key, "TLS parameters need a rediss:// URL"))
            }
        };
        match key.as_str() {
            "db" => query_db = Some(parse_db(value)?),
            "username" => {
                if config.username.is_some() {
                    return Err(ConfigError::new(
                        "username",
                        "given in the URL and the query",
                    ));
                }
                config.username = Some(value.to_owned());
            }
            "password" => {
                if config.password.is_some() {
                    return Err(ConfigError::new(
                        "password",
                        "given in the URL and the query",
                    ));
                }
                config.password = Some(Secret::new(value));
            }
            "socket_timeout" => config.socket_timeout = Some(seconds(&key, value)?),
            "socket_connect_timeout" => config.connect_timeout = Some(seconds(&key, value)?),
            "socket_keepalive" => keepalive = boolean(&key, value)?,
            "retry_on_timeout" => config.retry_on_timeout = boolean(&key, value)?,
            "health_check_interval" => {
                let interval = non_negative_seconds(&key, value)?;
                config.health_check_interval = (!interval.is_zero()).then_some(interval);
            }
            "max_connections" => {
                let max = value
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        ConfigError::new(&key, format!("`{value}` is not a positive integer"))
                    })?;
                config.max_connections = Some(max);
            }
            "client_name" => {
                if value
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
                {
                    return Err(ConfigError::new(
                        &key,
                        "Redis does not allow spaces in names",
                    ));
                }
                config.client_name = Some(value.to_owned());
            }
            "protocol" => {
                config.protocol = match value {
                    "2" | "resp2" => Protocol::Resp2,
                    "3" | "resp3" => Protocol::Resp3,
                    _ => return Err(ConfigError::new(&key, format!("`{value}` is not 2 or 3"))),
                };
            }
            "decode_responses" => {
                // Replies are typed by the caller (`String` or `Vec<u8>`); the value is
                // checked so that a typo is reported, and otherwise has no effect.
                boolean(&key, value)?;
            }
            "encoding" => {
                if !value.eq_ignore_ascii_case("utf-8") && !value.eq_ignore_ascii_case("utf8") {
                    return Err(ConfigError::new(&key, "only utf-8 is supported"));
                }
            }
            "encoding_errors" => {
                if value != "strict" {
                    return Err(ConfigError::new(
                        &key,
                        "only `strict` is supported: invalid UTF-8 is a conversion error",
                    ));
                }
            }
            "ssl_cert_reqs" => {
                needs_tls(&key)?;
                if value != "required" {
                    return Err(ConfigError::new(
                        &key,
                        "certificate verification cannot be turned off from a URL; use \
                         TlsConfig::danger_accept_invalid_certs in code",
                    ));
                }
            }
            "ssl_check_hostname" => {
                needs_tls(&key)?;
                if !boolean(&key, value)? {
                    return Err(ConfigError::new(
                        &key,
                        "host name verification cannot be turned off from a URL; set \
                         TlsConfig::server_name to the name in the certificate instead",
                    ));
                }
            }
            "ssl_ca_certs" => {
                needs_tls(&key)?;
                if let Some(tls) = &mut config.tls {
                    tls.ca_file = Some(PathBuf::from(value));
                }
            }
            "ssl_certfile" => {
                needs_tls(&key)?;
                cert_file = Some(PathBuf::from(value));
            }
            "ssl_keyfile" => {
                needs_tls(&key)?;
                key_file = Some(PathBuf::from(value));
            }
            "ssl_server_name" => {
                needs_tls(&key)?;
                if let Some(tls) = &mut config.tls {
                    tls.server_name = Some(value.to_owned());
                }
            }
            _ => return Err(ConfigError::new(key, "unknown parameter")),
        }
    }
    match (cert_file, key_file) {
        (Some(cert), Some(key)) => {
            if let Some(tls) = &mut config.tls {
                tls.client_cert = Some((cert, key));
            }
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(ConfigError::new(
                "ssl_keyfile",
                "ssl_certfile needs ssl_keyfile too",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "ssl_certfile",
                "ssl_keyfile needs ssl_certfile too",
            ));
        }
    }
    if keepalive {
        config.keepalive = Some(Keepalive::new());
    }
    if let (Some(path), Some(query)) = (path_db, query_db)
        && path != query
    {
        return Err(ConfigError::new(
            "db",
            format!("the path says {path} and the query says {query}"),
        ));
    }
    config.db = query_db.or(path_db).unwrap_or(0);
    Ok(())
}

/// Percent-decodes one URL component. The error never quotes the text, which may be a
/// password.
fn decode(parameter: &str, text: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::new(parameter, "bad percent-encoding or not UTF-8");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(bad());
            }
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

fn parse_db(text: &str) -> Result<u32, ConfigError> {
    text.parse::<u32>()
        .map_err(|_| ConfigError::new("db", format!("`{text}` is not a database number")))
}

/// A strict boolean: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, in any case.
fn boolean(parameter: &str, text: &str) -> Result<bool, ConfigError> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(ConfigError::new(
            parameter,
            format!("`{text}` is not a boolean (true/false, yes/no, on/off, 1/0)"),
        )),
    }
}

/// A positive number of seconds, possibly fractional.
fn seconds(parameter: &str, text: &str) -> Result<Duration, ConfigError> {
    let duration = non_negative_seconds(parameter, text)?;
    if duration.is_zero() {
        return Err(ConfigError::new(parameter, "must be more than 0 seconds"));
    }
    Ok(duration)
}

fn non_negative_seconds(parameter: &str, text: &str) -> Result<Duration, ConfigError> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| ConfigError::new(parameter, format!("`{text}` is not a number of seconds")))
}
