//! The floor of scenario 8: no AMQP client, only what each producer needs of
//! tokio and std. A current-thread runtime, a TCP connect to the broker, the
//! AMQP protocol header written, one read with a timeout (the broker's
//! Connection.Start), a println. Every client's binary holds at least this.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    // Host and port only (as the amqprs producer takes them): no URI parser.
    let addr = std::env::var("AMQP_ADDR").unwrap_or_else(|_| "127.0.0.1:5672".into());
    let mut socket = TcpStream::connect(&addr).await?;
    socket.write_all(b"AMQP\x00\x00\x09\x01").await?;
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no Connection.Start"))??;
    println!("read {n} bytes from {addr}");
    Ok(())
}
