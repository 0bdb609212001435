fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(200);
    let before = rss_kib();
    let mut held = Vec::new();
    for _ in 0..n {
        let c = amqp_client::connect("amqp://guest:guest@127.0.0.1:5672/%2f")
            .await
            .unwrap();
        let ch = c.open_channel().await.unwrap();
        held.push((c, ch));
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after = rss_kib();
    println!(
        "{n} connections: {} KiB total, {:.1} KiB each",
        after - before,
        (after - before) as f64 / n as f64
    );
}
