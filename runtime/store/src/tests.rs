use std::path::PathBuf;

use super::*;

/// A fresh file in a directory of its own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rusm-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("kv.redb")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn set_get_exists_delete() {
    let scratch = Scratch::new("basic");
    let store = Store::open(&scratch.file(), Limits::default()).unwrap();
    assert_eq!(store.get("b", "k").unwrap(), None);
    store.set("b", "k", b"v1").unwrap();
    store.set("b", "k", b"v2").unwrap();
    assert_eq!(store.get("b", "k").unwrap().as_deref(), Some(&b"v2"[..]));
    assert!(store.exists("b", "k").unwrap());
    assert!(!store.exists("other", "k").unwrap(), "buckets are apart");
    assert!(store.delete("b", "k").unwrap());
    assert!(!store.delete("b", "k").unwrap());
    assert_eq!(store.get("b", "k").unwrap(), None);
}

#[test]
fn list_keeps_to_its_bucket_prefix_and_limit() {
    let scratch = Scratch::new("list");
    let store = Store::open(&scratch.file(), Limits::default()).unwrap();
    for key in ["a/2", "a/1", "a/3", "b/1", "a"] {
        store.set("x", key, b"").unwrap();
    }
    // A bucket whose name extends "x" must not leak into it.
    store.set("x-y", "a/9", b"").unwrap();
    assert_eq!(store.list("x", "a/", 10).unwrap(), ["a/1", "a/2", "a/3"]);
    assert_eq!(store.list("x", "a/", 2).unwrap(), ["a/1", "a/2"]);
    assert_eq!(
        store.list("x", "", 10).unwrap(),
        ["a", "a/1", "a/2", "a/3", "b/1"]
    );
    assert_eq!(store.list("x", "c", 10).unwrap(), Vec::<String>::new());
    assert_eq!(store.list("x-y", "", 10).unwrap(), ["a/9"]);
}

#[test]
fn writes_survive_reopening_the_file() {
    let scratch = Scratch::new("reopen");
    {
        let store = Store::open(&scratch.file(), Limits::default()).unwrap();
        store.set("b", "kept", b"1").unwrap();
        store.set("b", "gone", b"2").unwrap();
        store.delete("b", "gone").unwrap();
    }
    let store = Store::open(&scratch.file(), Limits::default()).unwrap();
    assert_eq!(store.get("b", "kept").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get("b", "gone").unwrap(), None);
}

#[test]
fn bad_names_and_sizes_are_refused_with_the_reason() {
    let scratch = Scratch::new("invalid");
    let limits = Limits {
        max_value_bytes: 4,
        max_key_bytes: 8,
        max_list: 2,
    };
    let store = Store::open(&scratch.file(), limits).unwrap();
    let invalid = |r: Result<(), StoreError>| match r {
        Err(StoreError::Invalid(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(invalid(store.set("Upper", "k", b"")).contains("bucket name \"Upper\""));
    assert!(invalid(store.set("", "k", b"")).contains("bucket name \"\""));
    assert!(invalid(store.set("a\0b", "k", b"")).contains("bucket name"));
    assert!(invalid(store.set("b", "", b"")).contains("a key is 1 to 8 bytes"));
    assert!(invalid(store.set("b", "123456789", b"")).contains("(this one is 9)"));
    assert!(invalid(store.set("b", "a\nb", b"")).contains("control character"));
    assert!(invalid(store.set("b", "k", b"12345")).contains("exceeds the limit of 4 bytes"));
    for key in ["1", "2", "3"] {
        store.set("b", key, b"").unwrap();
    }
    assert_eq!(
        store.list("b", "", 100).unwrap().len(),
        2,
        "max_list caps a list"
    );
}

#[test]
fn a_file_that_is_not_a_store_is_an_io_error() {
    let scratch = Scratch::new("garbage");
    std::fs::write(scratch.file(), b"not a redb file at all, just some bytes").unwrap();
    match Store::open(&scratch.file(), Limits::default()) {
        Err(StoreError::Io(why)) => assert!(why.contains("kv.redb"), "{why}"),
        Err(other) => panic!("expected an io error, got {other:?}"),
        Ok(_) => panic!("a garbage file opened as a store"),
    }
}

#[test]
fn a_batch_is_applied_in_order_and_a_refused_write_refuses_it_all() {
    let scratch = Scratch::new("batch");
    let store = Store::open(&scratch.file(), Limits::default()).unwrap();
    let set = |key: &str, value: &[u8]| Write::Set {
        bucket: "b".into(),
        key: key.into(),
        value: value.to_vec(),
    };
    let delete = |key: &str| Write::Delete {
        bucket: "b".into(),
        key: key.into(),
    };
    let existed = store
        .apply(&[
            set("k", b"1"),
            set("k", b"2"),
            delete("k"),
            delete("k"),
            set("j", b"3"),
        ])
        .unwrap();
    assert_eq!(existed, [false, true, true, false, false]);
    assert_eq!(store.get("b", "k").unwrap(), None);
    assert_eq!(store.get("b", "j").unwrap().as_deref(), Some(&b"3"[..]));
    let refused = store.apply(&[set("x", b"1"), set("", b"2")]);
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert!(
        !store.exists("b", "x").unwrap(),
        "nothing of a refused batch is written"
    );
}
