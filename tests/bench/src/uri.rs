//! The broker address, parsed once from an `amqp://user:pass@host:port/vhost`
//! URI so that every client (and the raw bound) is given the same thing in
//! the form its API takes.

use crate::Res;

#[derive(Debug, Clone)]
pub(crate) struct BrokerUri {
    /// The URI as given (ours and lapin take it as is).
    pub(crate) uri: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: String,
    pub(crate) vhost: String,
}

fn percent_decode(s: &str) -> Res<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad %-escape in URI")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad %-escape in URI")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8(out)?)
}

impl BrokerUri {
    pub(crate) fn parse(uri: &str) -> Res<Self> {
        // amqps:// only for our client (`ours-tls`): the others, and the raw
        // bound, get the plain URI. The query (TLS files) is the client's.
        let (rest, default_port) = match uri.split_once("://") {
            Some(("amqp", rest)) => (rest, 5672),
            Some(("amqps", rest)) => (rest, 5671),
            _ => return Err("only amqp:// and amqps:// URIs are supported".into()),
        };
        let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
        let (authority, vhost) = match rest.split_once('/') {
            Some((a, v)) => (a, percent_decode(v)?),
            None => (rest, "/".to_string()),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (percent_decode(user)?, percent_decode(pass)?),
                None => (percent_decode(u)?, String::new()),
            },
            None => ("guest".to_string(), "guest".to_string()),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse()?),
            None => (hostport.to_string(), default_port),
        };
        Ok(Self {
            uri: uri.to_string(),
            host,
            port,
            user,
            password,
            vhost,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_uri() {
        let u = BrokerUri::parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_str(), u.vhost.as_str()),
            ("127.0.0.1", 5672, "guest", "/")
        );
        let u = BrokerUri::parse("amqp://localhost").unwrap();
        assert_eq!((u.port, u.vhost.as_str()), (5672, "/"));
        let u = BrokerUri::parse("amqps://localhost/%2f?cacertfile=/tmp/ca.pem").unwrap();
        assert_eq!((u.port, u.vhost.as_str()), (5671, "/"));
        assert!(BrokerUri::parse("http://localhost").is_err());
    }
}
