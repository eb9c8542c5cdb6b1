//! redis-py 3.5.2 README, "Scan Iterators": `scan_iter`, `sscan_iter`, `hscan_iter` and
//! `zscan_iter` as lazy iterators that fetch the next page only when the previous one is used
//! up, with MATCH, COUNT and TYPE.
//!
//! `cargo xtask demo scan_iterators` runs it against a throwaway server; to run it against your
//! own: `cargo run -p redis-client --example scan_iterators -- redis://127.0.0.1:6379/0`.
//! It only touches keys that start with `scan_iterators:` (and scans only those, with MATCH),
//! and deletes them at the end.

use std::collections::{BTreeMap, BTreeSet};

use redis_client::prelude::*;
use redis_client::{Client, Error, HscanOptions, ScanOptions, SscanOptions, ZscanOptions};

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let r = Client::open(&url)?;
    delete_all(&r)?; // left over from an interrupted run

    // >>> for key, value in (('A', '1'), ('B', '2'), ('C', '3')):
    // ...     r.set(key, value)
    // >>> for key in r.scan_iter():
    // ...     print(key, r.get(key))
    // A 1
    // B 2
    // C 3
    println!("1. for key in r.scan_iter(match='scan_iterators:*'): print(key, r.get(key))");
    for (key, value) in [("A", "1"), ("B", "2"), ("C", "3")] {
        r.set(format!("scan_iterators:{key}"), value)?;
    }
    let mut found = BTreeMap::new();
    for key in r.scan_iter::<String>(ScanOptions::new().pattern("scan_iterators:*")) {
        let key = key?;
        let value: Option<String> = r.get(&key)?;
        println!("   {key} {}", value.as_deref().unwrap_or("(gone)"));
        found.insert(key, value);
    }
    // SCAN may return a key twice; a map keeps one of each.
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        ["scan_iterators:A", "scan_iterators:B", "scan_iterators:C"]
    );

    println!("2. Many pages: 1000 keys with COUNT 100; the iterator asks for each page lazily");
    let pairs: Vec<(String, usize)> = (0..1000)
        .map(|i| (format!("scan_iterators:many:{i}"), i))
        .collect();
    r.mset(pairs)?;
    let mut iter = r.scan_iter::<String>(
        ScanOptions::new()
            .pattern("scan_iterators:many:*")
            .count(100),
    );
    let first = iter.next().expect("at least one key")?;
    println!(
        "   first key {first}; cursor for the next page: {}",
        iter.cursor()
    );
    let mut keys: BTreeSet<String> = iter.collect::<Result<_, _>>()?;
    keys.insert(first);
    assert_eq!(keys.len(), 1000);
    println!("   collected {} distinct keys", keys.len());

    println!("3. TYPE: only the hashes");
    r.hset(
        "scan_iterators:hash",
        [("name", "Ada"), ("lang", "Rust"), ("year", "2015")],
    )?;
    let hashes: Vec<String> = r
        .scan_iter(
            ScanOptions::new()
                .pattern("scan_iterators:*")
                .of_type("hash"),
        )
        .collect::<Result<_, _>>()?;
    assert_eq!(hashes, ["scan_iterators:hash"]);
    println!("   -> {hashes:?}");

    // >>> for field, value in r.hscan_iter('hash'): ...
    println!("4. r.hscan_iter('hash'): (field, value) pairs");
    let fields: BTreeMap<String, String> = r
        .hscan_iter("scan_iterators:hash", HscanOptions::new())
        .collect::<Result<_, _>>()?;
    assert_eq!(fields.len(), 3);
    assert_eq!(fields["lang"], "Rust");
    println!("   -> {fields:?}");

    // >>> for member in r.sscan_iter('set', match='b*'): ...
    println!("5. r.sscan_iter('set', match='b*'): members");
    r.sadd(
        "scan_iterators:set",
        ["apple", "banana", "blueberry", "cherry"],
    )?;
    let members: BTreeSet<String> = r
        .sscan_iter("scan_iterators:set", SscanOptions::new().pattern("b*"))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        members.iter().map(String::as_str).collect::<Vec<_>>(),
        ["banana", "blueberry"]
    );
    println!("   -> {members:?}");

    // >>> for member, score in r.zscan_iter('zset'): ...
    println!("6. r.zscan_iter('zset'): (member, score) pairs");
    r.zadd(
        "scan_iterators:zset",
        [(1.5, "bronze"), (2.5, "silver"), (3.5, "gold")],
    )?;
    let mut scored: Vec<(String, f64)> = r
        .zscan_iter("scan_iterators:zset", ZscanOptions::new())
        .collect::<Result<_, _>>()?;
    scored.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        scored,
        [
            ("bronze".to_owned(), 1.5),
            ("silver".to_owned(), 2.5),
            ("gold".to_owned(), 3.5)
        ]
    );
    println!("   -> {scored:?}");

    let deleted = delete_all(&r)?;
    assert_eq!(deleted, 3 + 1000 + 3);
    println!("Done (deleted {deleted} keys).");
    Ok(())
}

/// Deletes every key of the example, found with a scan iterator itself.
fn delete_all(r: &Client) -> Result<u64, Error> {
    let keys: BTreeSet<String> = r
        .scan_iter(ScanOptions::new().pattern("scan_iterators:*").count(500))
        .collect::<Result<_, _>>()?;
    if keys.is_empty() {
        return Ok(0);
    }
    r.del(keys.into_iter().collect::<Vec<_>>())
}
