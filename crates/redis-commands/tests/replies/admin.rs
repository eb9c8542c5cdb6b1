//! COMMAND INFO/DOCS, ACL GETUSER/LOG and FUNCTION LIST/STATS.

use bytes::Bytes;
use redis_commands::FromReply;
use redis_commands::replies::{
    AclLogEntry, AclUser, CommandDocs, CommandInfo, FunctionLibrary, FunctionStats,
};
use resp_proto::Value;

use super::{array, both_shapes, bulk, decode, int, map, set, simple};

#[test]
fn command_info_in_both_protocols_with_an_unknown_command() {
    // Captured: COMMAND INFO get nosuchcmd (flags and categories are sets in RESP3).
    let resp2 = decode(
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n\
+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n\
$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n\
$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n\
$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n$-1\r\n",
    );
    let resp3 = decode(
        b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n\
+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n\
$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n\
$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n\
$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n_\r\n",
    );
    for reply in [resp2, resp3] {
        let infos = Vec::<Option<CommandInfo>>::from_reply(reply).unwrap();
        assert_eq!(infos.len(), 2);
        assert!(infos[1].is_none());
        let get = infos[0].as_ref().unwrap();
        assert_eq!(get.name, "get");
        assert_eq!(get.arity, 2);
        assert_eq!(get.flags, ["readonly", "fast"]);
        assert_eq!((get.first_key, get.last_key, get.step), (1, 1, 1));
        assert_eq!(get.acl_categories, ["@read", "@string", "@fast"]);
        assert!(get.tips.is_empty());
        assert_eq!(get.key_specs.len(), 1);
        assert!(get.subcommands.is_empty());
    }
}

#[test]
fn command_info_with_subcommands_and_old_servers() {
    // Captured (one subcommand kept): COMMAND INFO config.
    let reply = decode(
        b"*1\r\n*10\r\n$6\r\nconfig\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n\
*1\r\n*10\r\n$10\r\nconfig|set\r\n:-4\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n\
:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*2\r\n\
$24\r\nrequest_policy:all_nodes\r\n$29\r\nresponse_policy:all_succeeded\r\n*0\r\n*0\r\n",
    );
    let infos = Vec::<CommandInfo>::from_reply(reply).unwrap();
    let config = &infos[0];
    assert_eq!((config.name.as_str(), config.arity), ("config", -2));
    assert_eq!(config.subcommands.len(), 1);
    let set_cmd = &config.subcommands[0];
    assert_eq!(set_cmd.name, "config|set");
    assert_eq!(
        set_cmd.tips,
        ["request_policy:all_nodes", "response_policy:all_succeeded"]
    );
    assert_eq!(set_cmd.flags.len(), 4);
    // Redis 5: six elements.
    let old = array(vec![
        bulk("get"),
        int(2),
        array(vec![simple("readonly")]),
        int(1),
        int(1),
        int(1),
    ]);
    let get = CommandInfo::from_reply(old).unwrap();
    assert!(get.acl_categories.is_empty() && get.subcommands.is_empty());
    assert!(CommandInfo::from_reply(array(vec![bulk("get"), int(2)])).is_err());
    // Subcommands nested without end are refused, not followed.
    let mut deep = array(vec![
        bulk("x"),
        int(1),
        array(vec![]),
        int(0),
        int(0),
        int(0),
        array(vec![]),
        array(vec![]),
        array(vec![]),
        array(vec![]),
    ]);
    for _ in 0..20 {
        deep = array(vec![
            bulk("x"),
            int(1),
            array(vec![]),
            int(0),
            int(0),
            int(0),
            array(vec![]),
            array(vec![]),
            array(vec![]),
            array(vec![deep]),
        ]);
    }
    let err = CommandInfo::from_reply(deep).unwrap_err();
    assert!(err.to_string().contains("too deep"), "{err}");
}

#[test]
fn command_docs_in_both_protocols() {
    let doc = vec![
        (bulk("summary"), bulk("Get the value of a key")),
        (bulk("since"), bulk("1.0.0")),
        (bulk("group"), bulk("string")),
        (bulk("complexity"), bulk("O(1)")),
        (bulk("arguments"), array(vec![])),
    ];
    let [doc2, doc3] = both_shapes(doc);
    let sub = map(vec![(
        bulk("config|get"),
        map(vec![(bulk("summary"), bulk("Returns the values"))]),
    )]);
    let [resp2, _] = both_shapes(vec![(bulk("get"), doc2)]);
    let [_, resp3] = both_shapes(vec![
        (bulk("get"), doc3),
        (
            bulk("config"),
            map(vec![
                (bulk("group"), bulk("server")),
                (bulk("subcommands"), sub),
            ]),
        ),
    ]);
    let docs = CommandDocs::from_reply(resp2).unwrap();
    assert_eq!(docs.len(), 1);
    let get = docs.get("GET").unwrap();
    assert_eq!(get.summary.as_deref(), Some("Get the value of a key"));
    assert_eq!(get.since.as_deref(), Some("1.0.0"));
    assert_eq!(get.group.as_deref(), Some("string"));
    assert_eq!(get.complexity.as_deref(), Some("O(1)"));
    assert_eq!(get.extra.get("arguments"), Some(&array(vec![])));
    assert!(get.subcommands.is_empty());
    let docs = CommandDocs::from_reply(resp3).unwrap();
    let names: Vec<&str> = docs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["get", "config"]);
    let config = docs.get("config").unwrap();
    assert_eq!(
        config
            .subcommands
            .get("config|get")
            .unwrap()
            .summary
            .as_deref(),
        Some("Returns the values")
    );
    assert!(CommandDocs::from_reply(Value::Null).unwrap().is_empty());
    assert!(CommandDocs::from_reply(array(vec![bulk("get")])).is_err());
}

#[test]
fn acl_getuser_in_both_protocols() {
    // Captured: ACL GETUSER alice (RESP3: flags is a set, selectors are maps).
    let resp2 = decode(
        b"*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n\
$64\r\n30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4\r\n$8\r\ncommands\r\n\
$17\r\n-@all +@hash +get\r\n$4\r\nkeys\r\n$3\r\n~k*\r\n$8\r\nchannels\r\n$4\r\n&ch*\r\n\
$9\r\nselectors\r\n*1\r\n*6\r\n$8\r\ncommands\r\n$10\r\n-@all +set\r\n$4\r\nkeys\r\n$3\r\n~x*\r\n\
$8\r\nchannels\r\n$0\r\n\r\n",
    );
    let resp3 = decode(
        b"%6\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n\
$64\r\n30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4\r\n$8\r\ncommands\r\n\
$17\r\n-@all +@hash +get\r\n$4\r\nkeys\r\n$3\r\n~k*\r\n$8\r\nchannels\r\n$4\r\n&ch*\r\n\
$9\r\nselectors\r\n*1\r\n%3\r\n$8\r\ncommands\r\n$10\r\n-@all +set\r\n$4\r\nkeys\r\n$3\r\n~x*\r\n\
$8\r\nchannels\r\n$0\r\n\r\n",
    );
    for reply in [resp2, resp3] {
        let user = Option::<AclUser>::from_reply(reply).unwrap().unwrap();
        assert_eq!(user.flags, ["on"]);
        assert!(user.is_enabled());
        assert_eq!(user.passwords.len(), 1);
        assert_eq!(user.passwords[0].len(), 64);
        assert_eq!(user.commands, "-@all +@hash +get");
        assert_eq!(user.keys, "~k*");
        assert_eq!(user.channels, "&ch*");
        assert_eq!(user.selectors.len(), 1);
        assert_eq!(user.selectors[0].commands, "-@all +set");
        assert_eq!(user.selectors[0].keys, "~x*");
        assert_eq!(user.selectors[0].channels, "");
    }
    // Captured: an unknown user, in both protocols.
    assert_eq!(
        Option::<AclUser>::from_reply(decode(b"$-1\r\n")).unwrap(),
        None
    );
    assert_eq!(
        Option::<AclUser>::from_reply(decode(b"_\r\n")).unwrap(),
        None
    );
    // Redis 6.2 sent lists of bare patterns.
    let old = array(vec![
        bulk("flags"),
        set(vec![bulk("off")]),
        bulk("keys"),
        array(vec![bulk("a*"), bulk("b*")]),
        bulk("channels"),
        array(vec![bulk("*")]),
    ]);
    let user = AclUser::from_reply(old).unwrap();
    assert!(!user.is_enabled());
    assert_eq!(
        (user.keys.as_str(), user.channels.as_str()),
        ("~a* ~b*", "&*")
    );
}

#[test]
fn acl_log_entries() {
    // Captured: ACL LOG 1 in RESP3 (age as a double) and the same entry in RESP2.
    let client = "id=10 addr=127.0.0.1:45446 laddr=127.0.0.1:6399 fd=8 name= age=0 idle=0 \
flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=21 qbuf-free=20453 argv-mem=5 multi-mem=0 \
rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=37653 events=r cmd=get user=alice redir=-1 resp=2";
    let entry = |age: Value| {
        vec![
            (bulk("count"), int(1)),
            (bulk("reason"), bulk("key")),
            (bulk("context"), bulk("toplevel")),
            (bulk("object"), bulk("zz")),
            (bulk("username"), bulk("alice")),
            (bulk("age-seconds"), age),
            (bulk("client-info"), bulk(client)),
        ]
    };
    let [resp2, _] = both_shapes(entry(bulk("2.5819999999999999")));
    let [_, resp3] = both_shapes(entry(Value::Double(2.582)));
    for reply in [array(vec![resp2]), array(vec![resp3])] {
        let log = Vec::<AclLogEntry>::from_reply(reply).unwrap();
        let e = &log[0];
        assert_eq!(e.count, 1);
        assert_eq!(e.reason, "key");
        assert_eq!(e.context, "toplevel");
        assert_eq!(e.object, "zz");
        assert_eq!(e.username, "alice");
        assert!((e.age_seconds - 2.582).abs() < 1e-9);
        assert_eq!(e.entry_id, None);
        let c = e.client().unwrap();
        assert_eq!((c.id, c.user.as_deref()), (10, Some("alice")));
    }
    // Redis 7.2 fields.
    let mut fields = entry(Value::Double(0.5));
    fields.push((bulk("entry-id"), int(4)));
    fields.push((bulk("timestamp-created"), int(1_700_000_000_000)));
    fields.push((bulk("timestamp-last-updated"), int(1_700_000_000_500)));
    fields.push((bulk("something-new"), int(9)));
    let e = AclLogEntry::from_reply(map(fields)).unwrap();
    assert_eq!(e.entry_id, Some(4));
    assert_eq!(e.timestamp_last_updated, Some(1_700_000_000_500));
    assert_eq!(e.extra.get("something-new"), Some(&int(9)));
}

#[test]
fn function_list_in_both_protocols() {
    let code = "#!lua name=mylib\nredis.register_function('f2', function() return 1 end)";
    let f2 = vec![
        (bulk("name"), bulk("f2")),
        (bulk("description"), Value::Null),
        (bulk("flags"), set(vec![])),
    ];
    let myfunc = vec![
        (bulk("name"), bulk("myfunc")),
        (bulk("description"), bulk("echo")),
        (bulk("flags"), set(vec![simple("no-writes")])),
    ];
    let [f2_2, f2_3] = both_shapes(f2);
    let [my_2, my_3] = both_shapes(myfunc);
    let library = |functions: Vec<Value>| {
        vec![
            (bulk("library_name"), bulk("mylib")),
            (bulk("engine"), bulk("LUA")),
            (bulk("functions"), array(functions)),
            (bulk("library_code"), bulk(code)),
        ]
    };
    let [resp2, _] = both_shapes(library(vec![f2_2, my_2]));
    let [_, resp3] = both_shapes(library(vec![f2_3, my_3]));
    for reply in [array(vec![resp2]), array(vec![resp3])] {
        let libs = Vec::<FunctionLibrary>::from_reply(reply).unwrap();
        let lib = &libs[0];
        assert_eq!(
            (lib.library_name.as_str(), lib.engine.as_str()),
            ("mylib", "LUA")
        );
        assert_eq!(lib.library_code.as_deref(), Some(code));
        assert_eq!(lib.functions.len(), 2);
        let f2 = lib.function("f2").unwrap();
        assert_eq!(f2.description, None);
        assert!(f2.flags.is_empty());
        let my = lib.function("myfunc").unwrap();
        assert_eq!(my.description.as_deref(), Some("echo"));
        assert_eq!(my.flags, ["no-writes"]);
    }
    // Captured: FUNCTION LIST without WITHCODE on an empty server.
    assert!(
        Vec::<FunctionLibrary>::from_reply(decode(b"*0\r\n"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn function_stats_in_both_protocols() {
    // Captured: FUNCTION STATS with nothing running.
    let resp2 = decode(
        b"*4\r\n$14\r\nrunning_script\r\n$-1\r\n$7\r\nengines\r\n*2\r\n$3\r\nLUA\r\n*4\r\n\
$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:2\r\n",
    );
    let resp3 = decode(
        b"%2\r\n$14\r\nrunning_script\r\n_\r\n$7\r\nengines\r\n%1\r\n$3\r\nLUA\r\n%2\r\n\
$15\r\nlibraries_count\r\n:1\r\n$15\r\nfunctions_count\r\n:2\r\n",
    );
    for reply in [resp2, resp3] {
        let stats = FunctionStats::from_reply(reply).unwrap();
        assert!(stats.running_script.is_none());
        let lua = &stats.engines["LUA"];
        assert_eq!((lua.libraries_count, lua.functions_count), (1, 2));
    }
    let running = map(vec![
        (
            bulk("running_script"),
            map(vec![
                (bulk("name"), bulk("slow")),
                (
                    bulk("command"),
                    array(vec![bulk("FCALL"), bulk("slow"), bulk("0")]),
                ),
                (bulk("duration_ms"), int(5012)),
            ]),
        ),
        (bulk("engines"), map(vec![])),
    ]);
    let stats = FunctionStats::from_reply(running).unwrap();
    let script = stats.running_script.unwrap();
    assert_eq!(script.name, "slow");
    assert_eq!(script.command[0], Bytes::from("FCALL"));
    assert_eq!(script.duration_ms, 5012);
    assert!(stats.engines.is_empty());
}
