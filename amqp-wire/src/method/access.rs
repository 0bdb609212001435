//! Class `access` (30): deprecated access tickets. RabbitMQ still answers
//! `access.request`; it is here for completeness only.

use crate::method::args::method;
use crate::strings::ShortString;

method! {
    /// `access.request` (30/10), client to server: asks for an access ticket
    /// to a realm (deprecated; tickets are always 0 in 0-9-1).
    AccessRequest = 30 / 10 "access.request" => AccessRequestOk {
        /// Realm name.
        realm: ShortString,
        /// Exclusive access.
        exclusive: bool,
        /// Passive access.
        passive: bool,
        /// Active access.
        active: bool,
        /// Write access.
        write: bool,
        /// Read access.
        read: bool,
    }
}

method! {
    /// `access.request-ok` (30/11), server to client: the granted ticket.
    AccessRequestOk = 30 / 11 "access.request-ok" {
        /// The ticket.
        ticket: u16,
    }
}
