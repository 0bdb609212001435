//! Class `channel` (20): open, flow-control and close the light-weight
//! channels that share one connection.

use crate::method::args::method;
use crate::strings::{LongString, ShortString};

method! {
    /// `channel.open` (20/10), client to server: opens a channel on the
    /// frame's channel number.
    ChannelOpen = 20 / 10 "channel.open" => ChannelOpenOk {
        /// Deprecated; must be empty.
        out_of_band: ShortString,
    }
}

method! {
    /// `channel.open-ok` (20/11), server to client: the channel is ready.
    ChannelOpenOk = 20 / 11 "channel.open-ok" {
        /// Deprecated; empty.
        channel_id: LongString,
    }
}

method! {
    /// `channel.flow` (20/20), either way: asks the peer to stop (active =
    /// false) or resume sending content on this channel.
    ChannelFlow = 20 / 20 "channel.flow" => ChannelFlowOk {
        /// True to resume, false to pause.
        active: bool,
    }
}

method! {
    /// `channel.flow-ok` (20/21), either way: confirms a flow request.
    ChannelFlowOk = 20 / 21 "channel.flow-ok" {
        /// The flow state now in force.
        active: bool,
    }
}

method! {
    /// `channel.close` (20/40), either way: closes the channel, with the
    /// (soft) error that caused it, such as 404 or 406.
    ChannelClose = 20 / 40 "channel.close" => ChannelCloseOk {
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
    /// `channel.close-ok` (20/41), either way: confirms a close; the channel
    /// number is free again.
    ChannelCloseOk = 20 / 41 "channel.close-ok" {}
}
