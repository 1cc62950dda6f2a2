//! One test per rule of the process model, the Erlang edge cases included.

use std::sync::{Arc, Mutex};

use rusm_rt::time::{self, Duration};

use crate::{Event, ExitReason, Limits, Message, Node, Observer, OpError, Pid, Process, Stdio};

/// A process that waits for one message and ends with the reason it names.
fn exits_on_message(node: &Node) -> Pid {
    node.spawn("exits-on-message", |me| async move {
        match me.receive().await {
            Message::Data { bytes, .. } if bytes == b"normal" => ExitReason::Normal,
            Message::Data { bytes, .. } => {
                ExitReason::Custom(String::from_utf8_lossy(&bytes).into())
            }
            other => ExitReason::Custom(format!("unexpected {other:?}")),
        }
    })
    .unwrap()
}

async fn expect_down(watcher: &Process, pid: Pid) -> ExitReason {
    match watcher.receive().await {
        Message::Down {
            pid: down, reason, ..
        } if down == pid => reason,
        other => panic!("expected down of {pid}, got {other:?}"),
    }
}

/// The reason of the exit signal from `from` that `trapper` receives next.
async fn expect_exit(trapper: &Process, from: Pid) -> ExitReason {
    match trapper.receive().await {
        Message::Exit {
            from: sender,
            reason,
        } if sender == from => reason,
        other => panic!("expected an exit signal from {from}, got {other:?}"),
    }
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    rusm_rt::block_on(future)
}

#[test]
fn mailbox_is_fifo_and_send_never_blocks() {
    run(async {
        let node = Node::new(Limits::default());
        let a = node.attach("a").unwrap();
        let b = node.attach("b").unwrap();
        for n in 0..100u8 {
            a.send(b.pid(), vec![n]).unwrap();
        }
        assert_eq!(node.mailbox_len(b.pid()), Some(100));
        for n in 0..100u8 {
            assert_eq!(
                b.receive().await,
                Message::Data {
                    from: a.pid(),
                    bytes: vec![n]
                }
            );
        }
        assert_eq!(b.try_receive(), None);
        assert_eq!(node.mailbox_len(b.pid()), Some(0));
        node.exit(b.pid(), ExitReason::Killed).unwrap();
        assert_eq!(node.mailbox_len(b.pid()), None);
    });
}

#[test]
fn send_to_an_exited_pid_is_silently_dropped() {
    run(async {
        let node = Node::new(Limits::default());
        let me = node.attach("me").unwrap();
        let gone = exits_on_message(&node);
        me.monitor(gone).unwrap();
        me.send(gone, b"normal".to_vec()).unwrap();
        assert_eq!(expect_down(&me, gone).await, ExitReason::Normal);
        assert_eq!(me.send(gone, b"anyone there?".to_vec()), Ok(()));
    });
}

#[test]
fn a_pid_never_issued_is_refused_everywhere() {
    run(async {
        let node = Node::new(Limits::default());
        let me = node.attach("me").unwrap();
        for garbage in [Pid::from_raw(0), Pid::from_raw(99), Pid::from_raw(u64::MAX)] {
            let refused = Err(OpError::InvalidPid(garbage));
            assert_eq!(me.send(garbage, vec![]), refused);
            assert_eq!(me.link(garbage), refused);
            assert_eq!(me.monitor(garbage).map(|_| ()), refused);
            assert_eq!(me.exit(garbage, ExitReason::Killed), refused);
            assert_eq!(me.register("x", garbage), refused);
            assert_eq!(node.send(garbage, vec![]), refused);
        }
        assert!(node.is_alive(me.pid()), "refusals do not hurt the caller");
    });
}

#[test]
fn a_message_over_the_size_limit_is_refused() {
    run(async {
        let limits = Limits {
            message_bytes: 8,
            ..Limits::default()
        };
        let node = Node::new(limits);
        let me = node.attach("me").unwrap();
        assert_eq!(me.send(me.pid(), vec![0; 8]), Ok(()));
        assert_eq!(
            me.send(me.pid(), vec![0; 9]),
            Err(OpError::MessageTooLarge { bytes: 9, limit: 8 })
        );
        assert_eq!(
            me.receive().await,
            Message::Data {
                from: me.pid(),
                bytes: vec![0; 8]
            }
        );
        assert_eq!(me.try_receive(), None);
    });
}

#[test]
fn receive_timeout_returns_none_at_the_deadline_and_a_message_before_it() {
    run(async {
        let node = Node::new(Limits::default());
        let me = node.attach("me").unwrap();
        let start = time::now();
        assert_eq!(me.receive_timeout(Duration::from_millis(30)).await, None);
        assert!(
            time::now() >= start + Duration::from_millis(30),
            "returned before the deadline"
        );

        let sender = me.pid();
        node.spawn("late-sender", move |p| async move {
            time::sleep(Duration::from_millis(10)).await;
            p.send(sender, b"hi".to_vec()).unwrap();
            ExitReason::Normal
        })
        .unwrap();
        let got = me.receive_timeout(Duration::from_secs(60)).await;
        assert!(matches!(got, Some(Message::Data { bytes, .. }) if bytes == b"hi"));

        me.send(me.pid(), b"queued".to_vec()).unwrap();
        let got = me.receive_timeout(Duration::ZERO).await;
        assert!(got.is_some(), "a zero timeout still takes a queued message");
    });
}

#[test]
fn an_abnormal_exit_kills_linked_processes_and_a_normal_one_does_not() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        for (cause, partner_survives) in [("normal", true), ("crash", false)] {
            let dying = exits_on_message(&node);
            let partner = node.attach("partner").unwrap();
            partner.link(dying).unwrap();
            watcher.monitor(partner.pid()).unwrap();
            watcher.monitor(dying).unwrap();
            node.send(dying, cause.as_bytes().to_vec()).unwrap();
            let reason = expect_down(&watcher, dying).await;
            assert_eq!(node.is_alive(partner.pid()), partner_survives, "{cause}");
            if !partner_survives {
                assert_eq!(expect_down(&watcher, partner.pid()).await, reason);
            }
        }
    });
}

/// Links and monitors are bounded per process: one more is refused to the
/// caller (a guest traps), on either side of a link; a link already held
/// may be made again, and what is given back makes room.
#[test]
fn links_and_monitors_held_by_one_process_are_bounded() {
    run(async {
        let node = Node::new(Limits {
            max_links: 2,
            max_monitors: 2,
            ..Limits::default()
        });
        let hub = node.attach("hub").unwrap();
        let spokes: Vec<Process> = (0..3).map(|_| node.attach("spoke").unwrap()).collect();
        hub.link(spokes[0].pid()).unwrap();
        spokes[1].link(hub.pid()).unwrap();
        hub.link(spokes[0].pid()).unwrap();
        assert_eq!(
            hub.link(spokes[2].pid()),
            Err(OpError::TooManyLinks {
                pid: hub.pid(),
                limit: 2
            })
        );
        // The full side is the other one: the asker is refused all the same.
        assert_eq!(
            spokes[2].link(hub.pid()),
            Err(OpError::TooManyLinks {
                pid: hub.pid(),
                limit: 2
            })
        );
        hub.unlink(spokes[0].pid()).unwrap();
        hub.link(spokes[2].pid()).unwrap();

        let target = spokes[0].pid();
        let first = hub.monitor(target).unwrap();
        hub.monitor(target).unwrap();
        assert_eq!(
            hub.monitor(target),
            Err(OpError::TooManyMonitors { limit: 2 })
        );
        assert_eq!(
            hub.spawn_monitor("child", |_| async { ExitReason::Normal }),
            Err(OpError::TooManyMonitors { limit: 2 })
        );
        assert_eq!(node.monitors_held(hub.pid()), Some(2));
        hub.demonitor(first).unwrap();
        hub.monitor(target).unwrap();
        node.check_consistency();
    });
}

/// The node's own kill (a handler's deadline) is not a signal: a process
/// that traps exits ends all the same, and its monitors and links see the
/// reason given.
#[test]
fn the_node_kills_a_trapping_process_with_the_reason_it_names() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        watcher.trap_exit(true).unwrap();
        let handler = node.attach("handler").unwrap();
        handler.trap_exit(true).unwrap();
        watcher.link(handler.pid()).unwrap();
        watcher.monitor(handler.pid()).unwrap();
        node.kill(handler.pid(), ExitReason::Timeout).unwrap();
        assert!(!node.is_alive(handler.pid()));
        assert_eq!(handler.try_receive(), None);
        assert_eq!(
            expect_down(&watcher, handler.pid()).await,
            ExitReason::Timeout
        );
        assert_eq!(
            expect_exit(&watcher, handler.pid()).await,
            ExitReason::Timeout
        );
        // A dead pid is ignored; one never issued is an error.
        assert_eq!(node.kill(handler.pid(), ExitReason::Timeout), Ok(()));
        let unissued = Pid::from_raw(u64::MAX);
        assert_eq!(
            node.kill(unissued, ExitReason::Timeout),
            Err(OpError::InvalidPid(unissued))
        );
    });
}

#[test]
fn trap_exit_turns_exit_signals_into_messages() {
    run(async {
        let node = Node::new(Limits::default());
        let trapper = node.attach("trapper").unwrap();
        assert_eq!(trapper.trap_exit(true), Ok(false));
        for cause in ["normal", "crash"] {
            let dying = exits_on_message(&node);
            trapper.link(dying).unwrap();
            node.send(dying, cause.as_bytes().to_vec()).unwrap();
            let expected = match cause {
                "normal" => ExitReason::Normal,
                other => ExitReason::Custom(other.into()),
            };
            assert_eq!(expect_exit(&trapper, dying).await, expected);
        }
        // A trapped `exit` from another process is a message too, even `normal`.
        let other = node.attach("other").unwrap();
        other.exit(trapper.pid(), ExitReason::Normal).unwrap();
        assert_eq!(expect_exit(&trapper, other.pid()).await, ExitReason::Normal);
        assert!(node.is_alive(trapper.pid()));
    });
}

#[test]
fn linking_to_a_dead_pid_delivers_noproc_at_once() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        let dead = exits_on_message(&node);
        watcher.monitor(dead).unwrap();
        node.send(dead, b"normal".to_vec()).unwrap();
        expect_down(&watcher, dead).await;

        let trapper = node.attach("trapper").unwrap();
        trapper.trap_exit(true).unwrap();
        trapper.link(dead).unwrap();
        assert_eq!(
            trapper.try_receive(),
            Some(Message::Exit {
                from: dead,
                reason: ExitReason::Noproc
            })
        );

        let plain = node.attach("plain").unwrap();
        watcher.monitor(plain.pid()).unwrap();
        plain.link(dead).unwrap();
        assert_eq!(expect_down(&watcher, plain.pid()).await, ExitReason::Noproc);
        assert_eq!(
            plain.send(watcher.pid(), vec![]),
            Err(OpError::CallerExited(plain.pid()))
        );
    });
}

#[test]
fn monitors_deliver_down_with_the_reason_and_noproc_for_the_dead() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        let target = exits_on_message(&node);
        let monitor = watcher.monitor(target).unwrap();
        node.send(target, b"out of coffee".to_vec()).unwrap();
        assert_eq!(
            watcher.receive().await,
            Message::Down {
                monitor,
                pid: target,
                reason: ExitReason::Custom("out of coffee".into())
            }
        );
        let again = watcher.monitor(target).unwrap();
        assert_ne!(again, monitor, "every monitor gets its own reference");
        assert_eq!(
            watcher.try_receive(),
            Some(Message::Down {
                monitor: again,
                pid: target,
                reason: ExitReason::Noproc
            })
        );
    });
}

#[test]
fn demonitor_means_no_down_and_a_monitor_fires_once() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        let target = exits_on_message(&node);
        let cancelled = watcher.monitor(target).unwrap();
        let kept = watcher.monitor(target).unwrap();
        assert_eq!(node.monitors_held(watcher.pid()), Some(2));
        watcher.demonitor(cancelled).unwrap();
        assert_eq!(node.monitors_held(watcher.pid()), Some(1));
        node.send(target, b"normal".to_vec()).unwrap();
        assert_eq!(
            watcher.receive().await,
            Message::Down {
                monitor: kept,
                pid: target,
                reason: ExitReason::Normal
            }
        );
        assert_eq!(
            watcher.receive_timeout(Duration::from_millis(20)).await,
            None
        );
        watcher.demonitor(kept).unwrap();
        assert_eq!(node.monitors_held(watcher.pid()), Some(0));
    });
}

#[test]
fn demonitor_flushes_a_down_already_delivered() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        let target = exits_on_message(&node);
        let flushed = watcher.monitor(target).unwrap();
        let other = node.attach("other").unwrap();
        let kept = watcher.monitor(other.pid()).unwrap();
        node.send(target, b"normal".to_vec()).unwrap();
        node.exit(other.pid(), ExitReason::Killed).unwrap();
        while node.is_alive(target) {
            rusm_rt::task::yield_now().await;
        }
        assert_eq!(node.mailbox_len(watcher.pid()), Some(2));
        watcher.demonitor(flushed).unwrap();
        assert_eq!(
            watcher.try_receive(),
            Some(Message::Down {
                monitor: kept,
                pid: other.pid(),
                reason: ExitReason::Killed
            })
        );
        assert_eq!(watcher.try_receive(), None);
    });
}

#[test]
fn kill_cannot_be_trapped_but_its_link_signal_can() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        let victim = node.attach("victim").unwrap();
        victim.trap_exit(true).unwrap();
        let friend = node.attach("friend").unwrap();
        friend.trap_exit(true).unwrap();
        friend.link(victim.pid()).unwrap();
        watcher.monitor(victim.pid()).unwrap();

        watcher.exit(victim.pid(), ExitReason::Killed).unwrap();
        assert_eq!(
            expect_down(&watcher, victim.pid()).await,
            ExitReason::Killed
        );
        assert_eq!(expect_exit(&friend, victim.pid()).await, ExitReason::Killed);
        assert!(node.is_alive(friend.pid()));
    });
}

#[test]
fn exit_with_normal_ignores_others_but_ends_the_caller() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        let bystander = node.attach("bystander").unwrap();
        let quitter = node.attach("quitter").unwrap();
        watcher.monitor(quitter.pid()).unwrap();
        quitter.exit(bystander.pid(), ExitReason::Normal).unwrap();
        assert!(node.is_alive(bystander.pid()));
        quitter.exit(quitter.pid(), ExitReason::Normal).unwrap();
        assert_eq!(
            expect_down(&watcher, quitter.pid()).await,
            ExitReason::Normal
        );
        watcher
            .exit(bystander.pid(), ExitReason::Custom("shutdown".into()))
            .unwrap();
        assert!(!node.is_alive(bystander.pid()));
    });
}

#[test]
fn a_link_cascade_carries_the_first_reason_down_the_chain() {
    run(async {
        let node = Node::new(Limits::default());
        let watcher = node.attach("watcher").unwrap();
        let chain: Vec<Process> = (0..5)
            .map(|n| node.attach(&format!("p{n}")).unwrap())
            .collect();
        for pair in chain.windows(2) {
            pair[0].link(pair[1].pid()).unwrap();
        }
        for p in &chain {
            watcher.monitor(p.pid()).unwrap();
        }
        node.exit(chain[2].pid(), ExitReason::Trap("boom".into()))
            .unwrap();
        for p in &chain {
            assert!(!node.is_alive(p.pid()));
        }
        let mut downs = Vec::new();
        while let Some(Message::Down { pid, reason, .. }) = watcher.try_receive() {
            downs.push((pid.as_raw(), reason));
        }
        let boom = ExitReason::Trap("boom".into());
        let pids: Vec<u64> = chain.iter().map(|p| p.pid().as_raw()).collect();
        // Breadth-first from the cause, neighbours in pid order.
        let order = [pids[2], pids[1], pids[3], pids[0], pids[4]];
        assert_eq!(
            downs,
            order.iter().map(|&p| (p, boom.clone())).collect::<Vec<_>>()
        );
    });
}

#[test]
fn names_die_with_their_process_and_can_be_taken_again() {
    run(async {
        let node = Node::new(Limits::default());
        let me = node.attach("me").unwrap();
        let first = exits_on_message(&node);
        me.register("svc", first).unwrap();
        assert_eq!(node.whereis("svc"), Some(first));
        assert_eq!(
            me.register("svc", me.pid()),
            Err(OpError::NameTaken {
                name: "svc".into(),
                pid: first
            })
        );
        assert_eq!(
            me.register("other", first),
            Err(OpError::AlreadyRegistered {
                pid: first,
                name: "svc".into()
            })
        );
        me.monitor(first).unwrap();
        node.send(first, b"normal".to_vec()).unwrap();
        expect_down(&me, first).await;
        assert_eq!(node.whereis("svc"), None);

        let second = exits_on_message(&node);
        me.register("svc", second).unwrap();
        assert_eq!(me.whereis("svc"), Some(second));
        me.unregister("svc").unwrap();
        assert_eq!(node.whereis("svc"), None);
        assert_eq!(
            me.unregister("svc"),
            Err(OpError::NotRegistered("svc".into()))
        );
        assert_eq!(me.register("dead", first), Err(OpError::Noproc(first)));
    });
}

#[test]
fn bad_names_are_refused() {
    run(async {
        let node = Node::new(Limits {
            name_bytes: 4,
            ..Limits::default()
        });
        let me = node.attach("me").unwrap();
        for bad in ["", "toolong", "a\nb"] {
            assert!(
                matches!(me.register(bad, me.pid()), Err(OpError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        me.register("ok", me.pid()).unwrap();
    });
}

#[test]
fn a_full_mailbox_ends_its_owner_with_mailbox_overflow() {
    run(async {
        let node = Node::new(Limits {
            mailbox_len: 3,
            ..Limits::default()
        });
        let watcher = node.attach("watcher").unwrap();
        let lazy = node.attach("lazy").unwrap();
        watcher.monitor(lazy.pid()).unwrap();
        for _ in 0..3 {
            watcher.send(lazy.pid(), vec![]).unwrap();
        }
        assert!(node.is_alive(lazy.pid()));
        watcher.send(lazy.pid(), vec![]).unwrap();
        assert_eq!(
            expect_down(&watcher, lazy.pid()).await,
            ExitReason::MailboxOverflow
        );
    });
}

/// Messages a process received and set aside count against the length
/// limit as if they still waited: receiving them into a stash is no way
/// around it.
#[test]
fn messages_set_aside_count_against_the_mailbox_length() {
    run(async {
        let node = Node::new(Limits {
            mailbox_len: 3,
            ..Limits::default()
        });
        let watcher = node.attach("watcher").unwrap();
        let caller = node.attach("caller").unwrap();
        watcher.monitor(caller.pid()).unwrap();
        for _ in 0..3 {
            watcher.send(caller.pid(), vec![]).unwrap();
        }
        for _ in 0..2 {
            assert!(caller.try_receive().is_some());
        }
        caller.set_aside(2).unwrap();
        // Two set aside and one waiting: full. A third taken back from the
        // stash makes room for one.
        caller.set_aside(1).unwrap();
        watcher.send(caller.pid(), vec![]).unwrap();
        assert!(node.is_alive(caller.pid()));
        watcher.send(caller.pid(), vec![]).unwrap();
        assert_eq!(
            expect_down(&watcher, caller.pid()).await,
            ExitReason::MailboxOverflow
        );
    });
}

/// The byte limit counts what waits, not what ever arrived: a received
/// message frees its bytes.
#[test]
fn a_mailbox_past_its_byte_limit_ends_its_owner_with_mailbox_overflow() {
    run(async {
        let node = Node::new(Limits {
            mailbox_bytes: 100,
            ..Limits::default()
        });
        let watcher = node.attach("watcher").unwrap();
        let lazy = node.attach("lazy").unwrap();
        watcher.monitor(lazy.pid()).unwrap();
        watcher.send(lazy.pid(), vec![0; 60]).unwrap();
        assert!(lazy.try_receive().is_some());
        watcher.send(lazy.pid(), vec![0; 60]).unwrap();
        watcher.send(lazy.pid(), vec![0; 40]).unwrap();
        assert!(node.is_alive(lazy.pid()), "exactly the limit is within it");
        watcher.send(lazy.pid(), vec![0; 1]).unwrap();
        assert_eq!(
            expect_down(&watcher, lazy.pid()).await,
            ExitReason::MailboxOverflow
        );
    });
}

/// A down's reason counts against the byte limit until it is received, or
/// flushed by `demonitor`.
#[test]
fn a_flushed_down_frees_its_bytes() {
    run(async {
        let node = Node::new(Limits {
            mailbox_bytes: 100,
            ..Limits::default()
        });
        let watcher = node.attach("watcher").unwrap();
        let target = exits_on_message(&node);
        let flushed = watcher.monitor(target).unwrap();
        node.send(target, vec![b'x'; 80]).unwrap();
        while node.is_alive(target) {
            rusm_rt::task::yield_now().await;
        }
        assert_eq!(node.mailbox_len(watcher.pid()), Some(1));
        watcher.demonitor(flushed).unwrap();
        node.send(watcher.pid(), vec![0; 100]).unwrap();
        assert!(
            node.is_alive(watcher.pid()),
            "the flushed down still counted"
        );
    });
}

/// What one message in a mailbox holds of the budget beyond its bytes.
const O: usize = crate::mailbox::MESSAGE_OVERHEAD_BYTES;

fn budget(bytes: usize) -> Limits {
    Limits {
        memory_budget: bytes,
        ..Limits::default()
    }
}

/// A node with this memory budget, a watcher, and `label` monitored by it.
fn watched(budget_bytes: usize, label: &str) -> (Node, Process, Process) {
    let node = Node::new(budget(budget_bytes));
    let watcher = node.attach("watcher").unwrap();
    let target = node.attach(label).unwrap();
    watcher.monitor(target.pid()).unwrap();
    (node, watcher, target)
}

/// A flood to a process that never reads ends that process, the one holding
/// the most, not the bystander whose message arrives when the budget is full.
#[test]
fn at_the_memory_budget_a_message_ends_the_largest_holder() {
    run(async {
        let recorder = Arc::new(Recorder::default());
        // Room for five messages and a little more.
        let node = Node::with_observer(budget(100 + 5 * O), recorder.clone());
        let watcher = node.attach("watcher").unwrap();
        let flooded = node.attach("flooded").unwrap();
        let bystander = node.attach("bystander").unwrap();
        watcher.monitor(flooded.pid()).unwrap();
        watcher.send(bystander.pid(), vec![0; 10]).unwrap();
        for _ in 0..4 {
            watcher.send(flooded.pid(), vec![0; 20]).unwrap();
        }
        assert_eq!(node.memory_held(), 90 + 5 * O);
        watcher.send(bystander.pid(), vec![0; 20]).unwrap();
        assert_eq!(
            expect_down(&watcher, flooded.pid()).await,
            ExitReason::MemoryBudget
        );
        assert_eq!(node.held_by(bystander.pid()), Some(30 + 2 * O));
        assert_eq!(node.memory_held(), 30 + 2 * O);
        let events = recorder.0.lock().unwrap().clone();
        let budget_lines: Vec<String> = events
            .into_iter()
            .filter(|e| e.starts_with("memory budget"))
            .collect();
        let full = format!("{} of {} bytes held", 90 + 5 * O, 100 + 5 * O);
        assert_eq!(
            budget_lines,
            [
                format!("memory budget over 80%: {full}"),
                format!("memory budget full: {full}"),
                format!(
                    "memory budget back under 70%: {} of {} bytes held",
                    30 + 2 * O,
                    100 + 5 * O
                ),
            ]
        );
    });
}

/// Empty messages are not free: each holds its own fields, so a flood of
/// them meets the budget too.
#[test]
fn a_flood_of_empty_messages_meets_the_budget() {
    run(async {
        let (node, watcher, flooded) = watched(10 * O, "flooded");
        for _ in 0..10 {
            watcher.send(flooded.pid(), Vec::new()).unwrap();
        }
        assert_eq!(node.memory_held(), 10 * O);
        watcher.send(flooded.pid(), Vec::new()).unwrap();
        assert_eq!(
            expect_down(&watcher, flooded.pid()).await,
            ExitReason::MemoryBudget
        );
    });
}

/// The largest holder that is itself the receiver ends `memory-budget`;
/// its message is not delivered.
#[test]
fn a_message_to_the_largest_holder_at_the_budget_ends_it() {
    run(async {
        // Room for one message and the watcher's down, not for two.
        let (node, watcher, flooded) = watched(50 + 2 * O, "flooded");
        watcher.send(flooded.pid(), vec![0; 30]).unwrap();
        watcher.send(flooded.pid(), vec![0; 30]).unwrap();
        assert_eq!(
            expect_down(&watcher, flooded.pid()).await,
            ExitReason::MemoryBudget
        );
        assert_eq!(node.memory_held(), 0);
    });
}

/// Memory growth makes room by ending larger holders; the largest holder's
/// own growth is refused, whoever else is there.
#[test]
fn memory_growth_at_the_budget_ends_larger_holders_or_is_refused() {
    run(async {
        // In kilobytes: the watcher's down (O bytes) fits beside them.
        const K: usize = 1000;
        let (node, watcher, big) = watched(100 * K, "big");
        let small = node.attach("small").unwrap();
        big.hold(60 * K).unwrap();
        small.hold(30 * K).unwrap();
        small.hold(20 * K).unwrap();
        assert_eq!(
            expect_down(&watcher, big.pid()).await,
            ExitReason::MemoryBudget
        );
        assert_eq!(node.memory_held(), 50 * K);
        let other = node.attach("other").unwrap();
        other.hold(50 * K).unwrap();
        assert_eq!(
            small.hold(1),
            Err(OpError::MemoryBudget {
                bytes: 1,
                budget: 100 * K
            }),
            "a tie goes against the one asking"
        );
        assert!(node.is_alive(other.pid()) && node.is_alive(small.pid()));
        assert_eq!(node.memory_held(), 100 * K);
    });
}

/// A host buffer held for a process counts like its memory: it makes room
/// by ending larger holders, is refused to the largest, and is given back
/// when dropped, or at the process's end (a drop after that gives back
/// nothing more).
#[test]
fn a_buffer_held_for_a_process_counts_until_dropped_or_its_end() {
    run(async {
        // In kilobytes: the watcher's downs (O bytes each) fit beside them.
        const K: usize = 1000;
        let (node, watcher, writer) = watched(100 * K, "writer");
        let other = node.attach("other").unwrap();
        watcher.monitor(other.pid()).unwrap();
        other.hold(30 * K).unwrap();
        let first = writer.hold_buffer(40 * K).unwrap();
        let second = writer.hold_buffer(20 * K).unwrap();
        assert_eq!(node.held_by(writer.pid()), Some(60 * K));
        assert_eq!(
            writer.hold_buffer(20 * K).unwrap_err(),
            OpError::MemoryBudget {
                bytes: 20 * K,
                budget: 100 * K
            },
            "the largest holder is refused"
        );
        drop(first);
        assert_eq!(node.memory_held(), 50 * K);
        // Now the other is the larger: room is made by ending it.
        let third = writer.hold_buffer(60 * K).unwrap();
        assert_eq!(
            expect_down(&watcher, other.pid()).await,
            ExitReason::MemoryBudget
        );
        node.kill(writer.pid(), ExitReason::Killed).unwrap();
        expect_down(&watcher, writer.pid()).await;
        assert_eq!(node.memory_held(), 0);
        drop((second, third));
        assert_eq!(node.memory_held(), 0);
    });
}

/// Nobody is ended when ending every larger holder would not make room.
#[test]
fn a_growth_that_no_death_makes_room_for_ends_nobody() {
    run(async {
        let node = Node::new(budget(100));
        let small = node.attach("small").unwrap();
        let large = node.attach("large").unwrap();
        small.hold(30).unwrap();
        large.hold(40).unwrap();
        assert!(small.hold(80).is_err());
        assert!(node.is_alive(large.pid()));
        assert_eq!(node.memory_held(), 70);
    });
}

/// A spawn whose initial memory does not fit in 7/8 of the budget is
/// refused; it ends nobody.
#[test]
fn a_spawn_that_does_not_fit_the_budget_is_refused() {
    run(async {
        let node = Node::new(budget(100 << 20));
        let holder = node.attach("holder").unwrap();
        holder.hold(80 << 20).unwrap();
        let refused = node.spawn_holding("c", 20 << 20, |_| async { ExitReason::Normal });
        assert_eq!(
            refused.err().map(|e| e.to_string()),
            Some(
                "the node's memory budget of 100 MiB is full (20971520 bytes more do not fit)"
                    .into()
            )
        );
        assert!(node.is_alive(holder.pid()));
        let past_seven_eighths = node.spawn_holding("c", 8 << 20, |_| async { ExitReason::Normal });
        assert!(past_seven_eighths.is_err());
        let spawned = node
            .spawn_holding("d", 7 << 20, |me| async move {
                me.receive().await;
                ExitReason::Normal
            })
            .unwrap();
        assert_eq!(node.held_by(spawned), Some(7 << 20));
        node.send(spawned, Vec::new()).unwrap();
        node.join(spawned).await;
        assert_eq!(node.memory_held(), 80 << 20);
    });
}

#[test]
fn spawn_beyond_the_process_limit_is_refused() {
    run(async {
        let node = Node::new(Limits {
            max_processes: 2,
            ..Limits::default()
        });
        let a = node.attach("a").unwrap();
        node.attach("b").unwrap();
        let refused = node.spawn("c", |_| async { ExitReason::Normal });
        assert_eq!(refused.err(), Some(OpError::TooManyProcesses { limit: 2 }));
        a.exit(a.pid(), ExitReason::Normal).unwrap();
        assert!(node.spawn("c", |_| async { ExitReason::Normal }).is_ok());
    });
}

#[test]
fn a_killed_body_stops_and_join_reports_the_reason() {
    run(async {
        let node = Node::new(Limits::default());
        let looping = node
            .spawn("looping", |me| async move {
                loop {
                    me.receive().await;
                }
            })
            .unwrap();
        let joined = rusm_rt::task::spawn(node.join(looping));
        node.exit(looping, ExitReason::Killed).unwrap();
        assert_eq!(joined.await.unwrap(), Some(ExitReason::Killed));
        assert_eq!(node.process_count(), 0);
        assert_eq!(node.join(looping).await, None);
    });
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Observer for Recorder {
    fn event(&self, event: Event<'_>) {
        self.0.lock().unwrap().push(event.to_string());
    }
}

#[test]
fn the_observer_sees_every_change_in_order() {
    run(async {
        let recorder = Arc::new(Recorder::default());
        let node = Node::with_observer(Limits::default(), recorder.clone());
        let a = node.attach("a").unwrap();
        let b = node.attach("b").unwrap();
        a.register("a", a.pid()).unwrap();
        a.link(b.pid()).unwrap();
        let m = b.monitor(a.pid()).unwrap();
        b.trap_exit(true).unwrap();
        node.exit(a.pid(), ExitReason::Trap("boom".into())).unwrap();
        assert!(b.receive_timeout(Duration::ZERO).await.is_some());
        let log = recorder.0.lock().unwrap().clone();
        assert_eq!(
            log,
            [
                "spawn a#1",
                "spawn b#2",
                "register \"a\" 1",
                "link 1 2",
                &format!("monitor 2 on 1 {m}"),
                "exit a#1 trap: boom",
                "unregister \"a\" 1",
                "deliver 2 down #1 of 1: trap: boom",
                "deliver 2 exit from 1: trap: boom",
            ]
        );
    });
}

#[test]
fn output_is_reported_in_order_as_one_line_and_not_after_exit() {
    run(async {
        let recorder = Arc::new(Recorder::default());
        let node = Node::with_observer(Limits::default(), recorder.clone());
        let a = node.attach("a").unwrap();
        node.output(a.pid(), Stdio::Stdout, b"hello\n");
        node.output(a.pid(), Stdio::Stderr, b"two\nlines\ttabbed\n");
        node.exit(a.pid(), ExitReason::Killed).unwrap();
        node.output(a.pid(), Stdio::Stdout, b"from beyond\n");
        let log = recorder.0.lock().unwrap().clone();
        assert_eq!(
            log,
            [
                "spawn a#1",
                "stdout 1: hello",
                "stderr 1: two\\nlines\\ttabbed",
                "exit a#1 killed",
            ]
        );
    });
}

#[test]
fn shutdown_ends_every_process_without_signals_and_pids_stay_fresh() {
    run(async {
        let recorder = Arc::new(Recorder::default());
        let node = Node::with_observer(Limits::default(), recorder.clone());
        let a = node.attach("a").unwrap();
        let b = node.attach("b").unwrap();
        a.link(b.pid()).unwrap();
        b.monitor(a.pid()).unwrap();
        a.register("a", a.pid()).unwrap();
        let blocked = rusm_rt::task::spawn(node.join(exits_on_message(&node)));
        node.shutdown();
        assert_eq!(blocked.await.unwrap(), Some(ExitReason::Killed));
        assert_eq!(node.process_count(), 0);
        assert_eq!(node.whereis("a"), None);
        assert_eq!(a.exited().await, ExitReason::Killed);
        let log = recorder.0.lock().unwrap().clone();
        assert_eq!(
            log[log.len() - 3..],
            [
                "exit a#1 killed",
                "exit b#2 killed",
                "exit exits-on-message#3 killed"
            ]
        );
        assert_eq!(node.attach("c").unwrap().pid(), Pid::from_raw(4));
    });
}

/// Under simulation time only moves when something waits: a zero timeout
/// must not wait (it used to cost madsim's shortest timer, 1 ms).
#[cfg(madsim)]
#[test]
fn a_zero_timeout_is_a_poll_that_takes_no_time() {
    run(async {
        let node = Node::new(Limits::default());
        let me = node.attach("me").unwrap();
        let start = time::now();
        assert_eq!(me.receive_timeout(Duration::ZERO).await, None);
        assert!(time::now() - start < Duration::from_micros(10));
        me.send(me.pid(), b"x".to_vec()).unwrap();
        assert!(me.receive_timeout(Duration::ZERO).await.is_some());
    });
}
