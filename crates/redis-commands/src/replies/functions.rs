//! FUNCTION LIST and FUNCTION STATS.

use std::collections::BTreeMap;

use bytes::Bytes;
use resp_proto::Value;

use super::util::{Record, entries, scalar_text};
use crate::reply::{ConversionError, FromReply, plain};

/// One element of the `FUNCTION LIST` reply: a library of functions.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FunctionLibrary {
    /// `library_name`: the library name.
    pub library_name: String,
    /// `engine`: the engine that runs it (`LUA`).
    pub engine: String,
    /// `functions`: the functions it registers.
    pub functions: Vec<LibraryFunction>,
    /// `library_code`: the source, with `WITHCODE` only.
    pub library_code: Option<String>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

/// A function of a [`FunctionLibrary`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LibraryFunction {
    /// `name`: the function name, as `FCALL` takes it.
    pub name: String,
    /// `description`: the description given at registration, if any.
    pub description: Option<String>,
    /// `flags`: the function flags (`no-writes`, `allow-oom`, ...).
    pub flags: Vec<String>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl FunctionLibrary {
    /// The function called `name`.
    pub fn function(&self, name: &str) -> Option<&LibraryFunction> {
        self.functions.iter().find(|f| f.name == name)
    }
}

impl FromReply for FunctionLibrary {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "FunctionLibrary")?;
        Ok(FunctionLibrary {
            library_name: r.req("library_name")?,
            engine: r.or_default("engine")?,
            functions: r.or_default("functions")?,
            library_code: r.opt("library_code")?,
            extra: r.into_rest(),
        })
    }
}

impl FromReply for LibraryFunction {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "LibraryFunction")?;
        Ok(LibraryFunction {
            name: r.req("name")?,
            description: r.opt("description")?,
            flags: r.or_default("flags")?,
            extra: r.into_rest(),
        })
    }
}

/// The reply to `FUNCTION STATS`: the running function, if any, and per-engine counts.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FunctionStats {
    /// `running_script`: the function running now (the server sends a null when none is).
    pub running_script: Option<RunningFunction>,
    /// `engines`: counts per engine name (`LUA`).
    pub engines: BTreeMap<String, EngineStats>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

/// The function running when `FUNCTION STATS` was answered.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RunningFunction {
    /// `name`: the function name.
    pub name: String,
    /// `command`: the command that called it, with its arguments.
    pub command: Vec<Bytes>,
    /// `duration_ms`: how long it has been running, in milliseconds.
    pub duration_ms: u64,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

/// The counts of one engine in [`FunctionStats`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct EngineStats {
    /// `libraries_count`: how many libraries use the engine.
    pub libraries_count: u64,
    /// `functions_count`: how many functions they register.
    pub functions_count: u64,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl FromReply for FunctionStats {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "FunctionStats")?;
        let running_script = r.opt("running_script")?;
        let engines = match r.take("engines").map(plain) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => entries(v, "FunctionStats")?
                .into_iter()
                .map(|(name, stats)| {
                    let name = scalar_text(name.clone())
                        .ok_or_else(|| ConversionError::new("FunctionStats", &name))?;
                    let stats = EngineStats::from_reply(stats)
                        .map_err(|e| e.with_detail(format!("engine {name}")))?;
                    Ok((name, stats))
                })
                .collect::<Result<_, ConversionError>>()?,
        };
        Ok(FunctionStats {
            running_script,
            engines,
            extra: r.into_rest(),
        })
    }
}

impl FromReply for RunningFunction {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "RunningFunction")?;
        Ok(RunningFunction {
            name: r.req("name")?,
            command: r.or_default("command")?,
            duration_ms: r.or_default("duration_ms")?,
            extra: r.into_rest(),
        })
    }
}

impl FromReply for EngineStats {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "EngineStats")?;
        Ok(EngineStats {
            libraries_count: r.or_default("libraries_count")?,
            functions_count: r.or_default("functions_count")?,
            extra: r.into_rest(),
        })
    }
}
