//! The Redis command specification: the JSON files under `crates/redis-commands/spec/commands`,
//! read into a small model.

use std::fs;
use std::path::Path;

use serde_json::Value as Json;

/// One command or subcommand of the specification.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    /// The full name as sent: `GET`, `CLIENT LIST`.
    pub(crate) name: String,
    pub(crate) summary: String,
    pub(crate) since: String,
    pub(crate) complexity: Option<String>,
    pub(crate) group: String,
    pub(crate) deprecated_since: Option<String>,
    pub(crate) replaced_by: Option<String>,
    pub(crate) args: Vec<Arg>,
    pub(crate) reply_schema: Option<Json>,
    /// Where the command's keys are (`key_specs`), as Rust expressions of
    /// `redis_commands::keys::KeySpec`.
    pub(crate) key_specs: Vec<String>,
    /// Whether other commands name this one as their container (`CLIENT`, `CONFIG`, ...).
    pub(crate) is_container: bool,
}

/// What an argument is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Key,
    String,
    Pattern,
    Integer,
    Double,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

impl Kind {
    pub(crate) fn is_scalar(self) -> bool {
        !matches!(self, Kind::PureToken | Kind::OneOf | Kind::Block)
    }
}

/// One argument of a command, possibly with children (one-of choices, blocks).
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) token: Option<String>,
    pub(crate) optional: bool,
    pub(crate) multiple: bool,
    pub(crate) multiple_token: bool,
    pub(crate) children: Vec<Arg>,
}

impl Arg {
    /// Whether this is a one-of whose choices are all bare tokens (`NX | XX`).
    pub(crate) fn is_token_choice(&self) -> bool {
        self.kind == Kind::OneOf
            && self
                .children
                .iter()
                .all(|c| c.kind == Kind::PureToken && c.token.is_some())
    }

    /// The tokens of a one-of of bare tokens, in order.
    pub(crate) fn choice_tokens(&self) -> Vec<String> {
        self.children
            .iter()
            .filter_map(|c| c.token.clone())
            .collect()
    }
}

/// Reads every command of the specification, sorted by name.
pub(crate) fn load(dir: &Path) -> Result<Vec<Command>, String> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut commands = Vec::new();
    for path in &files {
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let json: Json = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
        let object = json
            .as_object()
            .ok_or_else(|| format!("{}: expected an object", path.display()))?;
        for (name, body) in object {
            commands.push(command(name, body).map_err(|e| format!("{}: {e}", path.display()))?);
        }
    }
    let containers: Vec<String> = commands
        .iter()
        .filter_map(|c| {
            c.name
                .split_once(' ')
                .map(|(container, _)| container.to_owned())
        })
        .collect();
    for command in &mut commands {
        command.is_container = containers.contains(&command.name);
    }
    commands.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(commands)
}

fn command(name: &str, body: &Json) -> Result<Command, String> {
    let text = |key: &str| body.get(key).and_then(Json::as_str).map(str::to_owned);
    let full = match text("container") {
        Some(container) => format!("{container} {name}"),
        None => name.to_owned(),
    };
    let args = match body.get("arguments") {
        Some(Json::Array(items)) => items.iter().map(arg).collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(Command {
        summary: text("summary").unwrap_or_default(),
        since: text("since").unwrap_or_default(),
        complexity: text("complexity"),
        group: text("group").unwrap_or_default(),
        deprecated_since: text("deprecated_since"),
        replaced_by: text("replaced_by"),
        args,
        reply_schema: body.get("reply_schema").cloned(),
        key_specs: match body.get("key_specs") {
            Some(Json::Array(specs)) => specs.iter().map(key_spec).collect::<Result<_, _>>()?,
            _ => Vec::new(),
        },
        is_container: false,
        name: full,
    })
}

/// One key spec as a Rust expression.
fn key_spec(spec: &Json) -> Result<String, String> {
    let int = |v: &Json, key: &str| v.get(key).and_then(Json::as_i64).unwrap_or(0);
    let begin = spec
        .get("begin_search")
        .ok_or("a key spec without begin_search")?;
    let begin = if let Some(index) = begin.get("index") {
        format!("BeginSearch::Index({})", int(index, "pos"))
    } else if let Some(keyword) = begin.get("keyword") {
        format!(
            "BeginSearch::Keyword {{ keyword: {:?}, start_from: {} }}",
            keyword.get("keyword").and_then(Json::as_str).unwrap_or(""),
            int(keyword, "startfrom")
        )
    } else {
        "BeginSearch::Unknown".to_owned()
    };
    let find = spec
        .get("find_keys")
        .ok_or("a key spec without find_keys")?;
    let find = if let Some(range) = find.get("range") {
        format!(
            "FindKeys::Range {{ last_key: {}, step: {}, limit: {} }}",
            int(range, "lastkey"),
            int(range, "step"),
            int(range, "limit")
        )
    } else if let Some(keynum) = find.get("keynum") {
        format!(
            "FindKeys::KeyNum {{ key_num_index: {}, first_key: {}, step: {} }}",
            int(keynum, "keynumidx"),
            int(keynum, "firstkey"),
            int(keynum, "step")
        )
    } else {
        "FindKeys::Unknown".to_owned()
    };
    Ok(format!("KeySpec {{ begin: {begin}, find: {find} }}"))
}

fn arg(body: &Json) -> Result<Arg, String> {
    let text = |key: &str| body.get(key).and_then(Json::as_str).map(str::to_owned);
    let flag = |key: &str| body.get(key).and_then(Json::as_bool).unwrap_or(false);
    let kind = match text("type").as_deref() {
        Some("key") => Kind::Key,
        Some("string") => Kind::String,
        Some("pattern") => Kind::Pattern,
        Some("integer") => Kind::Integer,
        Some("double") => Kind::Double,
        Some("unix-time") => Kind::UnixTime,
        Some("pure-token") => Kind::PureToken,
        Some("oneof") => Kind::OneOf,
        Some("block") => Kind::Block,
        other => return Err(format!("unknown argument type {other:?}")),
    };
    let children = match body.get("arguments") {
        Some(Json::Array(items)) => items.iter().map(arg).collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let name = text("name").ok_or("an argument without a name")?;
    // A few bare tokens have only a name (SENTINEL SIMULATE-FAILURE's modes): the name is what
    // the server expects.
    let token = match (text("token"), kind) {
        (None, Kind::PureToken) => Some(name.to_uppercase()),
        (token, _) => token,
    };
    Ok(Arg {
        name,
        kind,
        token,
        optional: flag("optional"),
        multiple: flag("multiple"),
        multiple_token: flag("multiple_token"),
        children,
    })
}

/// The command syntax line, as the Redis documentation writes it.
pub(crate) fn syntax(command: &Command) -> String {
    let mut out = command.name.clone();
    for arg in &command.args {
        out.push(' ');
        out.push_str(&syntax_of(arg));
    }
    out
}

/// The syntax of one argument: `[EX seconds | PX milliseconds]`.
pub(crate) fn syntax_of(arg: &Arg) -> String {
    let body = match arg.kind {
        Kind::PureToken => arg.token.clone().unwrap_or_else(|| arg.name.clone()),
        Kind::OneOf => {
            let inner: Vec<String> = arg.children.iter().map(syntax_of).collect();
            let joined = inner.join(" | ");
            if arg.optional {
                joined
            } else {
                format!("<{joined}>")
            }
        }
        Kind::Block => arg
            .children
            .iter()
            .map(syntax_of)
            .collect::<Vec<_>>()
            .join(" "),
        _ => arg.name.clone(),
    };
    let with_token = match (&arg.token, arg.kind) {
        (Some(token), kind) if kind != Kind::PureToken => format!("{token} {body}"),
        _ => body,
    };
    let repeated = if arg.multiple {
        if arg.multiple_token {
            format!("{with_token} [{with_token} ...]")
        } else {
            format!("{with_token} [{} ...]", body_only(arg))
        }
    } else {
        with_token
    };
    if arg.optional {
        format!("[{repeated}]")
    } else {
        repeated
    }
}

fn body_only(arg: &Arg) -> String {
    let mut copy = arg.clone();
    copy.token = None;
    copy.multiple = false;
    copy.optional = false;
    syntax_of(&copy)
}
