//! Class `confirm` (85, RabbitMQ extension): publisher confirms. After
//! confirm.select the server acks (or nacks) every publish on the channel,
//! numbered from 1 in publish order.

use crate::method::args::method;

method! {
    /// `confirm.select` (85/10): turns on publisher confirms for the channel.
    ConfirmSelect = 85 / 10 "confirm.select" => ConfirmSelectOk unless nowait {
        /// Do not send select-ok.
        nowait: bool,
    }
}
method! {
    /// `confirm.select-ok` (85/11): confirms are on.
    ConfirmSelectOk = 85 / 11 "confirm.select-ok" {}
}
