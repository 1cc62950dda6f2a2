//! fanout: a broker and its subscribers, for measuring pub/sub fan-out.

use std::time::Instant;

use rusm_rs::pubsub::Topics;
use rusm_rs::{Message, Pid, receive, self_pid, send, spawn_with};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Spawns `subscribers` subscribers, subscribes them all to one topic,
    /// then publishes `messages` messages to it. Each subscriber reports
    /// `"done"` to `report` once it has every message; `report` is told
    /// `"subscribed"` before the first publish. Without a `report` the
    /// broker collects the reports itself and prints the rate.
    Broker {
        subscribers: u32,
        messages: u32,
        report: Option<Pid>,
    },
    /// Receives `messages` messages, then reports `"done"`.
    Subscriber { messages: u32, report: Pid },
}

#[rusm_rs::main]
fn main(mode: Mode) {
    match mode {
        Mode::Broker {
            subscribers,
            messages,
            report,
        } => broker(subscribers, messages, report),
        Mode::Subscriber { messages, report } => {
            let mut received = 0;
            while received < messages {
                if let Message::Data { .. } = receive() {
                    received += 1;
                }
            }
            send(report, "done");
        }
    }
}

fn broker(subscribers: u32, messages: u32, report: Option<Pid>) {
    let sink = report.unwrap_or_else(self_pid);
    let mut topics = Topics::new();
    for _ in 0..subscribers {
        let subscriber = spawn_with(
            "fanout",
            &Mode::Subscriber {
                messages,
                report: sink,
            },
        )
        .unwrap_or_else(|e| panic!("spawn a subscriber: {e}"));
        topics.subscribe("ticks", subscriber);
    }
    if let Some(report) = report {
        send(report, "subscribed");
    }
    let start = Instant::now();
    for tick in 0..messages {
        topics.publish("ticks", &tick);
    }
    if report.is_some() {
        // The subscribers report to someone else.
        return;
    }
    let mut done = 0;
    while done < subscribers {
        if let Message::Data { .. } = receive() {
            done += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let delivered = f64::from(subscribers) * f64::from(messages);
    println!(
        "fanout: {messages} messages to {subscribers} subscribers: {:.0} deliveries/s ({:.1} ms)",
        delivered / elapsed,
        elapsed * 1e3
    );
}
