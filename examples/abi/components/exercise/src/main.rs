//! exercise: every import of the host ABI, called from a real guest, with
//! Erlang's edge cases checked from the inside. Ends normally only if every
//! check holds.

use rusm_rs::pubsub::Topics;
use rusm_rs::{
    ExitReason, Message, Pid, demonitor, exit, link, monitor, receive, receive_timeout, register,
    self_pid, send, send_bytes, spawn_with, trap_exit, unlink, unregister, whereis,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Role {
    Main,
    /// Waits for one message: "crash" exits with a custom reason, anything
    /// else ends normally.
    Child,
}

/// Long enough for an exit to have happened; the checks that use it assert
/// that something did *not* arrive.
const QUIET_MS: u64 = 50;

#[rusm_rs::main]
fn main(role: Role) {
    match role {
        Role::Child => {
            if let Message::Data { bytes, .. } = receive()
                && bytes == b"\"crash\""
            {
                exit(self_pid(), ExitReason::Custom("crashed".into()));
            }
        }
        Role::Main => checks(),
    }
}

fn child() -> Pid {
    spawn_with("exercise", &Role::Child).expect("spawn a child")
}

fn checks() {
    let me = self_pid();
    assert_eq!(rusm_rs::init(), b"\"main\"");

    // The registry.
    register("exercise", me).expect("register");
    assert_eq!(whereis("exercise"), Some(me));
    assert!(register("exercise", me).is_err(), "a name is held once");
    unregister("exercise").expect("unregister");
    assert_eq!(whereis("exercise"), None);
    assert!(unregister("exercise").is_err());

    // Messages to oneself carry one's own pid.
    send_bytes(me, b"hello");
    assert_eq!(
        receive(),
        Message::Data {
            from: me,
            bytes: b"hello".to_vec()
        }
    );
    assert_eq!(receive_timeout(0), None);

    // trap-exit turns a linked crash into a message.
    assert!(!trap_exit(true));
    assert!(trap_exit(true));
    let crashing = child();
    link(crashing);
    send(crashing, "crash");
    assert_eq!(
        receive(),
        Message::Exit {
            from: crashing,
            reason: ExitReason::Custom("crashed".into())
        }
    );

    // A monitor removed before the exit sends nothing.
    let quiet = child();
    let cancelled = monitor(quiet);
    demonitor(cancelled);
    send(quiet, "bye");
    assert_eq!(receive_timeout(QUIET_MS), None);

    // A kill reaches monitors as `killed`; monitoring the dead answers noproc.
    let victim = child();
    let watch = monitor(victim);
    exit(victim, ExitReason::Killed);
    assert_eq!(
        receive(),
        Message::Down {
            monitor: watch,
            pid: victim,
            reason: ExitReason::Killed
        }
    );
    let late = monitor(victim);
    assert_eq!(
        receive(),
        Message::Down {
            monitor: late,
            pid: victim,
            reason: ExitReason::Noproc
        }
    );
    link(victim);
    assert_eq!(
        receive(),
        Message::Exit {
            from: victim,
            reason: ExitReason::Noproc
        }
    );

    // An unlinked process's exit is not ours to hear about.
    let loner = child();
    link(loner);
    unlink(loner);
    exit(loner, ExitReason::Custom("alone".into()));
    assert_eq!(receive_timeout(QUIET_MS), None);

    topics();

    println!("exercise: every check held");
}

/// `pubsub::Topics`: fan-out to a topic's subscribers, unsubscribing, and
/// pruning through monitors whose `down`s never reach this code.
fn topics() {
    let mut topics = Topics::new();
    let (a, b, c) = (child(), child(), child());
    assert!(topics.subscribe("news", a));
    assert!(!topics.subscribe("news", a), "once per topic");
    assert!(topics.subscribe("news", b));
    assert!(topics.subscribe("sport", b));
    assert!(topics.subscribe("news", c));
    assert!(topics.unsubscribe("news", c));
    assert!(!topics.unsubscribe("news", c));
    assert_eq!(topics.subscribers("news"), [a, b]);
    assert_eq!(topics.topics(), ["news", "sport"]);

    // A child ends normally on any message: the publish ends a and b, and
    // their downs are taken by the Topics, which prunes them. The downs
    // come when the children have run, which on a loaded machine may take
    // longer than one quiet spell: receive until they have (a bounded
    // number of spells), and no down may surface meanwhile.
    assert_eq!(topics.publish("news", "hello"), 2);
    for _ in 0..100 {
        if topics.subscribers("news").is_empty() {
            break;
        }
        assert_eq!(receive_timeout(QUIET_MS), None, "no down surfaces");
    }
    assert_eq!(topics.subscribers("news"), []);
    assert_eq!(topics.topics(), Vec::<String>::new(), "b left sport too");

    // c unsubscribed from its only topic: it is no longer monitored.
    send(c, "bye");
    assert_eq!(receive_timeout(QUIET_MS), None);
    assert_eq!(topics.publish("news", "anyone?"), 0);
}
