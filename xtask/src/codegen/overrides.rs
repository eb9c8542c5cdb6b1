//! The project's override file (`crates/redis-commands/spec/overrides.ini`): what the
//! specification cannot say, such as Rust names and reply types.
//!
//! The format is a small INI dialect: `[COMMAND NAME]` starts a section, `key = value` sets a
//! property, `#` starts a comment line. The keys are listed in the file's own header.

use std::collections::BTreeMap;

/// The overrides of one command.
#[derive(Debug, Default, Clone)]
pub(crate) struct Override {
    pub(crate) props: BTreeMap<String, String>,
    /// Which properties the generator read, to reject typos.
    pub(crate) line: usize,
}

impl Override {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }
}

/// Every section of the file, by command name, plus the global `[*]` section.
pub(crate) fn parse(text: &str) -> Result<BTreeMap<String, Override>, String> {
    let mut sections: BTreeMap<String, Override> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let number = index + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            if sections.contains_key(&name) {
                return Err(format!("line {number}: section [{name}] appears twice"));
            }
            sections.insert(
                name.clone(),
                Override {
                    line: number,
                    ..Override::default()
                },
            );
            current = Some(name);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "line {number}: expected `key = value`, found `{line}`"
            ));
        };
        let Some(section) = current.as_ref().and_then(|c| sections.get_mut(c)) else {
            return Err(format!("line {number}: a property before any [SECTION]"));
        };
        let key = key.trim().to_owned();
        if section.props.contains_key(&key) {
            return Err(format!("line {number}: `{key}` is set twice"));
        }
        section.props.insert(key, value.trim().to_owned());
    }
    Ok(sections)
}
