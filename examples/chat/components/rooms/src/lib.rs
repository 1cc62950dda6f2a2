//! The rooms service: each room's posts are kept in kv (so they outlive
//! the node) and fanned out to the processes tailing the room through a
//! `Topics` (so a tail that ends is pruned without a line of code here).

use std::collections::BTreeMap;

use rusm_rs::pubsub::Topics;
use rusm_rs::{kv, service};
use serde::{Deserialize, Serialize};

/// Where the posts live.
const BUCKET: &str = "chat";
/// The longest post accepted.
pub const MAX_TEXT_BYTES: usize = 2000;
/// The most posts one history or replay returns.
pub const MAX_HISTORY: u32 = 100;

/// One post in a room, numbered from 1 in the order the room got them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub seq: u64,
    pub author: String,
    pub text: String,
}

/// The node's rooms.
#[derive(Default)]
pub struct Rooms {
    tails: Topics,
    /// The next sequence number of each room seen since the service
    /// started (read from kv the first time).
    next: BTreeMap<String, u64>,
}

#[rusm_rs::service]
impl Rooms {
    /// Stores a post durably, then sends it to every tail of the room.
    pub fn post(&mut self, room: String, author: String, text: String) -> Result<Post, String> {
        check_room(&room)?;
        check_text("author", &author, 64)?;
        check_text("text", &text, MAX_TEXT_BYTES)?;
        let seq = self.next_seq(&room)?;
        // The counter moves first: a crash between the two writes leaves
        // a gap in the numbers, never two posts under one number.
        kv::set_json(BUCKET, &next_key(&room), &(seq + 1)).map_err(|e| e.to_string())?;
        self.next.insert(room.clone(), seq + 1);
        let post = Post { seq, author, text };
        kv::set_json(BUCKET, &post_key(&room, seq), &post).map_err(|e| e.to_string())?;
        self.tails.publish(&room, &post);
        Ok(post)
    }

    /// The room's last `limit` posts (at most 100), oldest first.
    pub fn history(&mut self, room: String, limit: u32) -> Result<Vec<Post>, String> {
        check_room(&room)?;
        let next = self.next_seq(&room)?;
        let first = next
            .saturating_sub(u64::from(limit.min(MAX_HISTORY)))
            .max(1);
        let mut posts = Vec::new();
        for seq in first..next {
            if let Some(post) =
                kv::get_json(BUCKET, &post_key(&room, seq)).map_err(|e| e.to_string())?
            {
                posts.push(post);
            }
        }
        Ok(posts)
    }

    /// Subscribes the caller to the room and answers with its last
    /// `replay` posts. Both happen in one step of this service, so the
    /// caller then receives every later post, none twice and none missed.
    pub fn join(&mut self, room: String, replay: u32) -> Result<Vec<Post>, String> {
        let posts = self.history(room.clone(), replay)?;
        self.tails.subscribe(&room, service::caller());
        Ok(posts)
    }

    /// The rooms that have had posts, in name order.
    pub fn rooms(&mut self) -> Result<Vec<String>, String> {
        let keys = kv::list(BUCKET, "next/", 1000).map_err(|e| e.to_string())?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix("next/"))
            .map(str::to_string)
            .collect())
    }

    /// How many processes tail `room` now.
    pub fn tails(&mut self, room: String) -> usize {
        self.tails.subscribers(&room).len()
    }
}

impl Rooms {
    fn next_seq(&mut self, room: &str) -> Result<u64, String> {
        if let Some(next) = self.next.get(room) {
            return Ok(*next);
        }
        let next = kv::get_json(BUCKET, &next_key(room))
            .map_err(|e| e.to_string())?
            .unwrap_or(1);
        self.next.insert(room.to_string(), next);
        Ok(next)
    }
}

fn next_key(room: &str) -> String {
    format!("next/{room}")
}

/// Posts sort by number within their room.
fn post_key(room: &str, seq: u64) -> String {
    format!("posts/{room}/{seq:012}")
}

/// A room name is 1-32 of `a-z 0-9 - _`.
fn check_room(room: &str) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if room.is_empty() || room.len() > 32 || !room.chars().all(plain) {
        return Err(format!(
            "a room name is 1-32 of a-z, 0-9, - and _ (not {room:?})"
        ));
    }
    Ok(())
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() || text.len() > max {
        return Err(format!("the {what} is 1 to {max} bytes of text"));
    }
    Ok(())
}
