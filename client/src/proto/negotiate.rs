//! What the client answers during the handshake: client properties, the
//! SASL response, and the tune-ok values.

use amqp_wire::{FieldTable, FieldValue, LongString, FRAME_MIN_SIZE};

use crate::config::{Heartbeat, SaslMechanism};
use crate::error::Error;

/// The limits in force once connection.tune-ok is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Highest channel number; 0 means no limit (65535).
    pub channel_max: u16,
    /// Largest frame in octets; 0 means no limit.
    pub frame_max: u32,
    /// Heartbeat interval in seconds; 0 means none.
    pub heartbeat: u16,
}

impl Tuning {
    /// The highest channel number usable.
    pub fn max_channel_id(&self) -> u16 {
        match self.channel_max {
            0 => u16::MAX,
            n => n,
        }
    }
}

/// For channel_max and frame_max: the lower non-zero value, 0 meaning "no
/// limit" on either side. We never answer 0 or more than the server's value
/// when it proposed a limit: RabbitMQ closes the connection with 530 if we do.
pub(crate) fn lower_limit<N: Ord + Default + Copy>(ours: N, server: N) -> N {
    let zero = N::default();
    match (ours == zero, server == zero) {
        (true, _) => server,
        (_, true) => ours,
        _ => ours.min(server),
    }
}

/// The tune-ok values for the server's tune and our wishes.
pub(crate) fn tune(server: (u16, u32, u16), ours: (u16, u32, Heartbeat)) -> Result<Tuning, Error> {
    let (server_channel_max, server_frame_max, server_heartbeat) = server;
    let (channel_max, frame_max, heartbeat) = ours;
    if server_frame_max != 0 && server_frame_max < FRAME_MIN_SIZE {
        return Err(Error::Negotiation(format!(
            "the broker proposed frame_max {server_frame_max}, below the spec's minimum of 4096"
        )));
    }
    let frame_max = match lower_limit(frame_max, server_frame_max) {
        0 => 0,
        n => n.max(FRAME_MIN_SIZE),
    };
    // RabbitMQ's rule: a 0 on one side takes the other's value; otherwise
    // the lower. Turning heartbeats off is explicit.
    let heartbeat = match heartbeat {
        Heartbeat::Disabled => 0,
        Heartbeat::BrokerDefault => server_heartbeat,
        Heartbeat::Secs(ours) => lower_limit(ours, server_heartbeat),
    };
    Ok(Tuning {
        channel_max: lower_limit(channel_max, server_channel_max),
        frame_max,
        heartbeat,
    })
}

/// The client-properties table of connection.start-ok.
pub(crate) fn client_properties(connection_name: Option<&str>) -> FieldTable {
    let capabilities = [
        "publisher_confirms",
        "consumer_cancel_notify",
        "basic.nack",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "exchange_exchange_bindings",
    ]
    .into_iter()
    .map(|c| (c, FieldValue::Boolean(true)))
    .collect::<FieldTable>();
    let mut props = FieldTable::new()
        .with("product", "amqp-client (Rust)")
        .with("version", env!("CARGO_PKG_VERSION"))
        .with(
            "platform",
            format!(
                "Rust, tokio, {}-{}",
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
        )
        .with(
            "information",
            "An AMQP 0-9-1 client written from scratch on tokio",
        )
        .with("capabilities", capabilities);
    if let Some(name) = connection_name {
        props.insert("connection_name", name);
    }
    props
}

/// Picks our mechanism from the server's space-separated list.
pub(crate) fn check_mechanism(offered: &LongString, ours: SaslMechanism) -> Result<(), Error> {
    let offered = offered.to_string_lossy();
    if offered.split(' ').any(|m| m == ours.name()) {
        Ok(())
    } else {
        Err(Error::Negotiation(format!(
            "the broker offers SASL mechanisms [{offered}], not {}",
            ours.name()
        )))
    }
}

/// The SASL initial response for `mechanism`.
pub(crate) fn sasl_response(mechanism: SaslMechanism, user: &str, password: &str) -> LongString {
    match mechanism {
        // RFC 4616: authzid NUL authcid NUL passwd, with an empty authzid.
        SaslMechanism::Plain => format!("\0{user}\0{password}").into(),
        // A field table without its length prefix: LOGIN and PASSWORD as `S`.
        SaslMechanism::AmqPlain => {
            let table = FieldTable::new()
                .with("LOGIN", user)
                .with("PASSWORD", password);
            let mut buf = bytes::BytesMut::new();
            // Two short keys and the user's strings: only a string over 4 GiB
            // could fail, and then the login fails at the broker instead.
            if amqp_wire::field_table::encode_table(&table, &mut buf).is_err() {
                return LongString::default();
            }
            LongString::from(buf.split_off(4).freeze())
        }
        // The identity is the certificate's; the response is empty.
        SaslMechanism::External => LongString::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(server: (u16, u32, u16), ours: (u16, u32, Heartbeat)) -> Tuning {
        tune(server, ours).unwrap()
    }

    #[test]
    fn lower_non_zero_wins_for_limits() {
        let r = t((2047, 131072, 60), (100, 65536, Heartbeat::Secs(10)));
        assert_eq!(
            r,
            Tuning {
                channel_max: 100,
                frame_max: 65536,
                heartbeat: 10
            }
        );
        let r = t((100, 65536, 10), (2047, 131072, Heartbeat::Secs(60)));
        assert_eq!(
            r,
            Tuning {
                channel_max: 100,
                frame_max: 65536,
                heartbeat: 10
            }
        );
    }

    #[test]
    fn zero_means_no_limit_and_takes_the_other_side() {
        let r = t((0, 0, 0), (100, 65536, Heartbeat::Secs(10)));
        assert_eq!(
            r,
            Tuning {
                channel_max: 100,
                frame_max: 65536,
                heartbeat: 10
            }
        );
        let r = t((2047, 131072, 60), (0, 0, Heartbeat::BrokerDefault));
        assert_eq!(
            r,
            Tuning {
                channel_max: 2047,
                frame_max: 131072,
                heartbeat: 60
            }
        );
        let r = t((0, 0, 0), (0, 0, Heartbeat::BrokerDefault));
        assert_eq!(
            r,
            Tuning {
                channel_max: 0,
                frame_max: 0,
                heartbeat: 0
            }
        );
    }

    #[test]
    fn heartbeat_can_be_turned_off_explicitly() {
        assert_eq!(t((0, 0, 60), (0, 0, Heartbeat::Disabled)).heartbeat, 0);
    }

    #[test]
    fn never_answers_above_the_servers_limit() {
        let r = t(
            (10, 8192, 5),
            (u16::MAX, u32::MAX, Heartbeat::Secs(u16::MAX)),
        );
        assert_eq!(
            r,
            Tuning {
                channel_max: 10,
                frame_max: 8192,
                heartbeat: 5
            }
        );
    }

    #[test]
    fn frame_max_below_4096_from_the_server_is_refused() {
        assert!(matches!(
            tune((0, 1024, 0), (0, 0, Heartbeat::BrokerDefault)),
            Err(Error::Negotiation(_))
        ));
    }

    #[test]
    fn plain_response_is_nul_user_nul_password() {
        let r = sasl_response(SaslMechanism::Plain, "guest", "secret");
        assert_eq!(r.as_bytes(), b"\0guest\0secret");
    }

    #[test]
    fn amqplain_response_is_a_table_without_its_length() {
        let r = sasl_response(SaslMechanism::AmqPlain, "u", "p");
        assert_eq!(
            r.as_bytes(),
            b"\x05LOGINS\x00\x00\x00\x01u\x08PASSWORDS\x00\x00\x00\x01p"
        );
    }
}
