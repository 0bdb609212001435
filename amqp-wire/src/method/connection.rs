//! Class `connection` (10): work with socket connections — negotiation,
//! authentication, tuning, opening a virtual host, and closing.
//!
//! ```text
//! C: protocol header   S: start      C: start-ok
//! S: secure*           C: secure-ok*
//! S: tune              C: tune-ok    C: open   S: open-ok
//! ... then either side: close, the other: close-ok
//! ```

use crate::field_table::FieldTable;
use crate::method::args::method;
use crate::strings::{LongString, ShortString};

method! {
    /// `connection.start` (10/10), server to client: opens negotiation,
    /// naming the protocol version, the server's properties and the SASL
    /// mechanisms and locales it offers (space-separated).
    ConnectionStart = 10 / 10 "connection.start" => ConnectionStartOk {
        /// Protocol major version; 0 for 0-9-1.
        version_major: u8,
        /// Protocol minor version; 9 for 0-9-1.
        version_minor: u8,
        /// Product, version, platform, and RabbitMQ's `capabilities` table.
        server_properties: FieldTable,
        /// Space-separated SASL mechanisms, e.g. `PLAIN AMQPLAIN`.
        mechanisms: LongString,
        /// Space-separated message locales, e.g. `en_US`.
        locales: LongString,
    }
}

method! {
    /// `connection.start-ok` (10/11), client to server: picks a SASL
    /// mechanism and locale and gives the first response (for PLAIN,
    /// `\0user\0password`).
    ConnectionStartOk = 10 / 11 "connection.start-ok" {
        /// Product, version, platform, information, capabilities, connection_name.
        client_properties: FieldTable,
        /// The chosen SASL mechanism.
        mechanism: ShortString,
        /// The mechanism's initial response.
        response: LongString,
        /// The chosen locale.
        locale: ShortString,
    }
}

method! {
    /// `connection.secure` (10/20), server to client: a SASL challenge.
    ConnectionSecure = 10 / 20 "connection.secure" => ConnectionSecureOk {
        /// Mechanism-specific challenge data.
        challenge: LongString,
    }
}

method! {
    /// `connection.secure-ok` (10/21), client to server: answer to a challenge.
    ConnectionSecureOk = 10 / 21 "connection.secure-ok" {
        /// Mechanism-specific response data.
        response: LongString,
    }
}

method! {
    /// `connection.tune` (10/30), server to client: proposes limits. 0 means
    /// "no limit" for channel_max and frame_max, "no heartbeats" for heartbeat.
    ConnectionTune = 10 / 30 "connection.tune" => ConnectionTuneOk {
        /// Highest channel number the server allows.
        channel_max: u16,
        /// Largest frame the server accepts, in octets.
        frame_max: u32,
        /// Heartbeat interval the server wants, in seconds.
        heartbeat: u16,
    }
}

method! {
    /// `connection.tune-ok` (10/31), client to server: the limits the client
    /// will use; none may exceed what the server proposed.
    ConnectionTuneOk = 10 / 31 "connection.tune-ok" {
        /// Highest channel number the client will use.
        channel_max: u16,
        /// Largest frame either side may send, in octets.
        frame_max: u32,
        /// Heartbeat interval in seconds; 0 turns heartbeats off.
        heartbeat: u16,
    }
}

method! {
    /// `connection.open` (10/40), client to server: opens a virtual host.
    ConnectionOpen = 10 / 40 "connection.open" => ConnectionOpenOk {
        /// The virtual host, e.g. `/`.
        virtual_host: ShortString,
        /// Deprecated; must be empty.
        capabilities: ShortString,
        /// Deprecated; must be false.
        insist: bool,
    }
}

method! {
    /// `connection.open-ok` (10/41), server to client: the vhost is open.
    ConnectionOpenOk = 10 / 41 "connection.open-ok" {
        /// Deprecated; empty.
        known_hosts: ShortString,
    }
}

method! {
    /// `connection.close` (10/50), either way: closes the connection, with
    /// the reply code and text of why, and the method that caused it (0/0
    /// if none).
    ConnectionClose = 10 / 50 "connection.close" => ConnectionCloseOk {
        /// Why (see [`crate::ReplyCode`]).
        reply_code: u16,
        /// Human-readable reason.
        reply_text: ShortString,
        /// Class of the failing method, or 0.
        class_id: u16,
        /// Id of the failing method, or 0.
        method_id: u16,
    }
}

method! {
    /// `connection.close-ok` (10/51), either way: confirms a close; the
    /// sender of `close` may then drop the socket.
    ConnectionCloseOk = 10 / 51 "connection.close-ok" {}
}

method! {
    /// `connection.blocked` (10/60), server to client (RabbitMQ extension):
    /// the broker stopped reading from publishing connections, e.g. on a
    /// memory or disk alarm.
    ConnectionBlocked = 10 / 60 "connection.blocked" {
        /// Why, e.g. `low on memory`.
        reason: ShortString,
    }
}

method! {
    /// `connection.unblocked` (10/61), server to client (RabbitMQ extension):
    /// the alarm cleared; publishing goes on.
    ConnectionUnblocked = 10 / 61 "connection.unblocked" {}
}

method! {
    /// `connection.update-secret` (10/70), client to server (RabbitMQ
    /// extension): replaces the credential, e.g. an expiring OAuth token.
    ConnectionUpdateSecret = 10 / 70 "connection.update-secret" => ConnectionUpdateSecretOk {
        /// The new secret.
        new_secret: LongString,
        /// Why it is updated.
        reason: ShortString,
    }
}

method! {
    /// `connection.update-secret-ok` (10/71), server to client: accepted.
    ConnectionUpdateSecretOk = 10 / 71 "connection.update-secret-ok" {}
}
