//! Medians, ranges and per-round ratios, as Markdown tables.

use std::fmt::Write as _;

use crate::scenario::{Client, Figures, Scenario};

/// One child run.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) round: usize,
    pub(crate) scenario: Scenario,
    pub(crate) client: Client,
    pub(crate) result: Result<Figures, String>,
}

/// Median, min and max.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) n: usize,
}

impl Spread {
    pub(crate) fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 0 {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        };
        Some(Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
            n: v.len(),
        })
    }
}

/// A number for a table: thousands separators above 1,000, else 3 significant digits.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(s: Option<Spread>, f: impl Fn(f64) -> String) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n == 1 || s.min == s.max => f(s.median),
        Some(s) => format!("{} ({}–{})", f(s.median), f(s.min), f(s.max)),
    }
}

fn ratio(v: f64) -> String {
    format!("{v:.2}×")
}

/// The figure a scenario is judged by, and whether higher is better.
fn headline(scenario: Scenario, f: &Figures) -> Option<f64> {
    if scenario.is_latency() {
        f.p50_us
    } else if scenario.is_large() {
        Some(f.mb_per_s)
    } else {
        Some(f.msgs_per_s)
    }
}

fn higher_is_better(scenario: Scenario) -> bool {
    !scenario.is_latency()
}

fn figures(runs: &[Run], scenario: Scenario, client: Client) -> Vec<(usize, &Figures)> {
    runs.iter()
        .filter(|r| r.scenario == scenario && r.client == client)
        .filter_map(|r| r.result.as_ref().ok().map(|f| (r.round, f)))
        .collect()
}

fn round_figure(
    runs: &[Run],
    scenario: Scenario,
    client: Client,
    round: usize,
) -> Option<&Figures> {
    figures(runs, scenario, client)
        .into_iter()
        .find(|(r, _)| *r == round)
        .map(|(_, f)| f)
}

/// Per-round ratios of `client` to the raw bound and to the best peer.
struct Ratios {
    vs_raw: Vec<f64>,
    vs_best_peer: Vec<f64>,
    cpu_vs_best_peer: Vec<f64>,
}

fn ratios(runs: &[Run], scenario: Scenario, client: Client, peers: &[Client]) -> Ratios {
    let mut out = Ratios {
        vs_raw: vec![],
        vs_best_peer: vec![],
        cpu_vs_best_peer: vec![],
    };
    for (round, f) in figures(runs, scenario, client) {
        let Some(h) = headline(scenario, f) else {
            continue;
        };
        if let Some(raw) =
            round_figure(runs, scenario, Client::Raw, round).and_then(|r| headline(scenario, r))
        {
            out.vs_raw.push(h / raw);
        }
        let peer_figs: Vec<&Figures> = peers
            .iter()
            .filter_map(|p| round_figure(runs, scenario, *p, round))
            .collect();
        let heads: Vec<f64> = peer_figs
            .iter()
            .filter_map(|p| headline(scenario, p))
            .collect();
        let best = if higher_is_better(scenario) {
            heads.iter().copied().reduce(f64::max)
        } else {
            heads.iter().copied().reduce(f64::min)
        };
        if let Some(best) = best {
            out.vs_best_peer.push(h / best);
        }
        if let Some(best_cpu) = peer_figs.iter().map(|p| p.cpu_us_per_msg).reduce(f64::min) {
            out.cpu_vs_best_peer.push(f.cpu_us_per_msg / best_cpu);
        }
    }
    out
}

fn spread_of(
    runs: &[Run],
    scenario: Scenario,
    client: Client,
    get: impl Fn(&Figures) -> Option<f64>,
) -> Option<Spread> {
    let v: Vec<f64> = figures(runs, scenario, client)
        .into_iter()
        .filter_map(|(_, f)| get(f))
        .collect();
    Spread::of(&v)
}

fn mib(kib: f64) -> String {
    num(kib / 1024.0)
}

/// The detailed table of one scenario.
pub(crate) fn scenario_table(runs: &[Run], scenario: Scenario, clients: &[Client]) -> String {
    let peers: Vec<Client> = clients.iter().copied().filter(|c| c.is_peer()).collect();
    let mut s = String::new();
    let _ = writeln!(s, "### {}\n", scenario.title());
    let (head, judged) = if scenario.is_latency() {
        (
            "| client | p50 µs | p99 µs | msgs/s | CPU µs/msg | CPU at exit µs/msg | peak RSS MiB |",
            "p50, lower is better",
        )
    } else if scenario.is_large() {
        (
            "| client | MB/s | CPU µs/msg | CPU at exit µs/msg | peak RSS MiB |",
            "MB/s, higher is better",
        )
    } else {
        (
            "| client | msgs/s | CPU µs/msg | CPU at exit µs/msg | peak RSS MiB |",
            "msgs/s, higher is better",
        )
    };
    let _ = writeln!(s, "{head} vs raw | vs best peer | CPU vs best peer |");
    let cols = head.matches('|').count() - 1 + 3;
    let _ = writeln!(s, "|{}", "---|".repeat(cols));
    for &client in clients {
        let get = |g: fn(&Figures) -> Option<f64>| spread_of(runs, scenario, client, g);
        let mut row = format!("| {client} |");
        if scenario.is_latency() {
            let _ = write!(
                row,
                " {} | {} | {} |",
                cell(get(|f| f.p50_us), num),
                cell(get(|f| f.p99_us), num),
                cell(get(|f| Some(f.msgs_per_s)), num)
            );
        } else if scenario.is_large() {
            let _ = write!(row, " {} |", cell(get(|f| Some(f.mb_per_s)), num));
        } else {
            let _ = write!(row, " {} |", cell(get(|f| Some(f.msgs_per_s)), num));
        }
        let _ = write!(
            row,
            " {} | {} | {} |",
            cell(get(|f| Some(f.cpu_us_per_msg)), num),
            cell(get(|f| Some(f.exit_cpu_us_per_msg)), num),
            cell(get(|f| Some(f.peak_rss_kib)), mib)
        );
        let r = ratios(runs, scenario, client, &peers);
        let vs_raw = if client == Client::Raw {
            "1.00×".into()
        } else {
            cell(Spread::of(&r.vs_raw), ratio)
        };
        let _ = write!(
            row,
            " {} | {} | {} |",
            vs_raw,
            cell(Spread::of(&r.vs_best_peer), ratio),
            cell(Spread::of(&r.cpu_vs_best_peer), ratio)
        );
        let _ = writeln!(s, "{row}");
    }
    let rounds = runs
        .iter()
        .filter(|r| r.scenario == scenario)
        .map(|r| r.round)
        .max()
        .map_or(0, |m| m + 1);
    let _ = writeln!(
        s,
        "\nMedian (min–max) of {rounds} round(s). CPU µs/msg: all threads' time on CPU in the timed \
         section (from /proc/self/task/*/schedstat, ns); CPU at exit: the process's user+sys from \
         /proc/self/stat at exit (start-up, connect and close included; 10 ms ticks). Ratios are of \
         {judged}, taken within each round, then the median; \"CPU vs best peer\" divides by the \
         lower CPU µs/msg of lapin and amqprs in that round.\n"
    );
    s
}

/// One line per scenario with the medians, in the shape of the table.
pub(crate) fn summary_table(runs: &[Run], scenarios: &[Scenario], clients: &[Client]) -> String {
    let mut s = String::new();
    let _ = write!(s, "| scenario |");
    for c in clients {
        let _ = write!(s, " {c} |");
    }
    let _ = writeln!(s, "\n|---|{}", "---|".repeat(clients.len()));
    for &scenario in scenarios {
        let label = match scenario {
            Scenario::Publish => "publish transient msgs/s · client CPU µs/msg",
            Scenario::Confirm => "publish persistent+confirms msgs/s · CPU · peak RSS",
            Scenario::ConfirmLatency => "confirm latency p50 / p99 µs",
            Scenario::ConsumeAck1 => "consume prefetch 1 msgs/s",
            Scenario::ConsumeAck100 => "consume prefetch 100 + ack msgs/s · CPU",
            Scenario::ConsumeNoAck => "consume no-ack msgs/s · CPU",
            Scenario::RoundTrip => "round trip p50 / p99 µs",
            Scenario::LargePublish => "publish 16 MiB MB/s · peak RSS",
            Scenario::LargeConsume => "consume 16 MiB MB/s · peak RSS",
            Scenario::LargeConsume10 => "consume 16 MiB prefetch 10 MB/s · peak RSS",
        };
        let _ = write!(s, "| {label} |");
        for &client in clients {
            let m = |g: fn(&Figures) -> Option<f64>| {
                spread_of(runs, scenario, client, g).map(|x| x.median)
            };
            let Some(rate) = m(|f| Some(f.msgs_per_s)) else {
                let _ = write!(s, " — |");
                continue;
            };
            let cpu = m(|f| Some(f.cpu_us_per_msg)).unwrap_or(f64::NAN);
            let rss = m(|f| Some(f.peak_rss_kib)).unwrap_or(f64::NAN) / 1024.0;
            let text = match scenario {
                Scenario::Publish | Scenario::ConsumeAck100 | Scenario::ConsumeNoAck => {
                    format!("{} · {}", num(rate), num(cpu))
                }
                Scenario::Confirm => format!("{} · {} · {} MiB", num(rate), num(cpu), num(rss)),
                Scenario::ConsumeAck1 => num(rate),
                Scenario::ConfirmLatency | Scenario::RoundTrip => format!(
                    "{} / {}",
                    m(|f| f.p50_us).map_or("—".into(), num),
                    m(|f| f.p99_us).map_or("—".into(), num)
                ),
                Scenario::LargePublish | Scenario::LargeConsume | Scenario::LargeConsume10 => {
                    format!(
                        "{} · {} MiB",
                        m(|f| Some(f.mb_per_s)).map_or("—".into(), num),
                        num(rss)
                    )
                }
            };
            let _ = write!(s, " {text} |");
        }
        let _ = writeln!(s);
    }
    s
}

/// `other` against `base` (e.g. ours over TLS against ours over plain
/// AMQP): per scenario, the headline figure and CPU µs/msg of each, and
/// their ratios `other / base` taken within each round, then the median.
pub(crate) fn pair_table(
    runs: &[Run],
    scenarios: &[Scenario],
    base: Client,
    other: Client,
    label: impl Fn(Scenario) -> String,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| scenario | {base} | {other} | {other} / {base} | CPU µs/msg {base} | CPU µs/msg {other} | CPU {other} / {base} | peak RSS MiB {base} / {other} |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for &scenario in scenarios {
        let head = |f: &Figures| headline(scenario, f);
        let cpu = |f: &Figures| Some(f.cpu_us_per_msg);
        let (mut ratio_head, mut ratio_cpu) = (vec![], vec![]);
        for (round, b) in figures(runs, scenario, base) {
            let Some(o) = round_figure(runs, scenario, other, round) else {
                continue;
            };
            if let (Some(hb), Some(ho)) = (head(b), head(o)) {
                ratio_head.push(ho / hb);
            }
            ratio_cpu.push(o.cpu_us_per_msg / b.cpu_us_per_msg);
        }
        let unit = if scenario.is_latency() {
            "p50 µs"
        } else if scenario.is_large() {
            "MB/s"
        } else {
            "msgs/s"
        };
        let rss = |c: Client| {
            spread_of(runs, scenario, c, |f| Some(f.peak_rss_kib))
                .map_or("—".into(), |x| mib(x.median))
        };
        let _ = writeln!(
            s,
            "| {} ({unit}) | {} | {} | {} | {} | {} | {} | {} / {} |",
            label(scenario),
            cell(spread_of(runs, scenario, base, head), num),
            cell(spread_of(runs, scenario, other, head), num),
            cell(Spread::of(&ratio_head), ratio),
            cell(spread_of(runs, scenario, base, cpu), num),
            cell(spread_of(runs, scenario, other, cpu), num),
            cell(Spread::of(&ratio_cpu), ratio),
            rss(base),
            rss(other),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(rate: f64, cpu: f64) -> Figures {
        Figures {
            msgs_per_s: rate,
            cpu_us_per_msg: cpu,
            peak_rss_kib: 2048.0,
            ..Default::default()
        }
    }

    #[test]
    fn medians_and_numbers() {
        let s = Spread::of(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(num(70_100.4), "70,100");
        assert_eq!(num(1_234_567.0), "1,234,567");
        assert_eq!(num(16.34), "16.3");
        assert_eq!(num(0.154), "0.154");
    }

    #[test]
    fn ratios_are_taken_within_rounds() {
        let run = |round, client, rate, cpu| Run {
            round,
            scenario: Scenario::Publish,
            client,
            result: Ok(fig(rate, cpu)),
        };
        let runs = vec![
            run(0, Client::Raw, 100.0, 0.1),
            run(0, Client::Ours, 50.0, 2.0),
            run(0, Client::Lapin, 40.0, 8.0),
            run(0, Client::Amqprs, 25.0, 4.0),
            // A slow round for everyone: the ratios stay the same.
            run(1, Client::Raw, 10.0, 0.1),
            run(1, Client::Ours, 5.0, 2.0),
            run(1, Client::Lapin, 4.0, 8.0),
            run(1, Client::Amqprs, 2.5, 4.0),
        ];
        let r = ratios(
            &runs,
            Scenario::Publish,
            Client::Ours,
            &[Client::Lapin, Client::Amqprs],
        );
        assert_eq!(r.vs_raw, [0.5, 0.5]);
        assert_eq!(r.vs_best_peer, [1.25, 1.25]);
        assert_eq!(r.cpu_vs_best_peer, [0.5, 0.5]);
        let t = pair_table(
            &runs,
            &[Scenario::Publish],
            Client::Ours,
            Client::Lapin,
            |s| s.name().into(),
        );
        assert!(
            t.contains("| publish (msgs/s) | 27.5 (5.00–50.0) | 22.0 (4.00–40.0) | 0.80× | 2.00 | 8.00 | 4.00× | 2.00 / 2.00 |"),
            "{t}"
        );
        let t = scenario_table(&runs, Scenario::Publish, &Client::ALL);
        assert!(
            t.contains("| ours | 27.5 (5.00–50.0) | 2.00 | 0.000 | 2.00 | 0.50× | 1.25× | 0.50× |"),
            "{t}"
        );
    }
}
