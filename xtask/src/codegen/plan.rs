//! From the specification to a plan per command: the method's name, its positional
//! parameters, the option struct for its optional arguments, the enums it needs, its reply
//! type, and the order in which everything goes on the wire.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::overrides::Override;
use super::spec::{Arg, Command, Kind};

/// A positional parameter of a generated method or an option method.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) ty: ParamTy,
}

/// How a parameter is typed.
#[derive(Debug, Clone)]
pub(crate) enum ParamTy {
    /// `impl ToArg`: one argument.
    Arg,
    /// `i64`.
    Int,
    /// `u64` (cursors).
    UInt,
    /// `impl ToArgs`: any number of arguments, at least one when `nonempty`.
    Args { nonempty: bool },
    /// `impl IntoIterator<Item = (..)>`: groups of arguments.
    Tuples { elems: Vec<ParamTy>, nonempty: bool },
    /// A generated enum, by value.
    Enum(String),
    /// Any number of a generated enum (`impl IntoIterator<Item = Enum>`).
    EnumList { name: String, nonempty: bool },
}

/// One step of writing the command, in wire order.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Token(String),
    Param(usize),
    /// The number of arguments in a parameter (`numkeys`).
    CountOf(usize),
    Slot(usize),
}

/// A method of an option struct: sets (or appends to) slots.
#[derive(Debug, Clone)]
pub(crate) struct OptMethod {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) params: Vec<Param>,
    pub(crate) append: bool,
    /// What goes into which slot.
    pub(crate) writes: Vec<(usize, Vec<Step>)>,
}

/// The option struct of a command.
#[derive(Debug, Clone)]
pub(crate) struct OptionsPlan {
    pub(crate) name: String,
    pub(crate) slots: usize,
    pub(crate) methods: Vec<OptMethod>,
    pub(crate) dependencies: Vec<Dependency>,
}

/// An optional part that the server rejects without another one (`ANY` without `COUNT`).
#[derive(Debug, Clone)]
pub(crate) struct Dependency {
    pub(crate) slot: usize,
    pub(crate) what: String,
    pub(crate) parent: usize,
    pub(crate) needs: String,
}

/// A generated enum type.
#[derive(Debug, Clone)]
pub(crate) struct EnumDef {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) variants: Vec<Variant>,
    /// Whether every variant is a bare token (then the enum is `Copy` and has `as_str`).
    pub(crate) tokens_only: bool,
}

/// A variant of a generated enum.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) writes: Vec<FieldWrite>,
}

/// How a variant writes itself.
#[derive(Debug, Clone)]
pub(crate) enum FieldWrite {
    Token(String),
    /// `c.arg(field)`.
    Value(usize),
    /// `if field { token }`.
    Flag(usize, String),
    /// `if let Some(v) = field { token; v }`.
    Optional(usize, Option<String>),
    /// Every element, each preceded by the token when `each`.
    List(usize, Option<String>, bool),
    /// Every pair.
    Pairs(usize),
    /// `field.write_to(c)`.
    Enum(usize),
    /// `if let Some(e) = field { e.write_to(c) }`.
    OptionalEnum(usize),
    /// `for e in field { e.write_to(c) }`.
    EnumList(usize),
}

/// The reply type of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `T: FromReply`, chosen by the caller.
    Generic,
    /// A fixed Rust type.
    Fixed(String),
}

/// Everything the emitter needs about one command.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) command: Command,
    pub(crate) method: String,
    pub(crate) params: Vec<Param>,
    pub(crate) steps: Vec<Step>,
    pub(crate) options: Option<OptionsPlan>,
    pub(crate) reply: Reply,
    pub(crate) reply_with: Reply,
    pub(crate) redis_py: Option<String>,
    pub(crate) doc: Option<String>,
}

/// Commands that are not generated, and why.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub(crate) command: String,
    pub(crate) reason: String,
}

/// The whole plan: commands, shared enums, skipped commands.
#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) plans: Vec<Plan>,
    pub(crate) enums: Vec<EnumDef>,
    pub(crate) skipped: Vec<Skipped>,
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "yield", "box", "try", "gen", "abstract", "become", "do",
    "final", "macro", "override", "priv", "typeof", "unsized", "virtual",
];

/// `CLIENT NO-EVICT` → `client_no_evict`.
pub(crate) fn snake(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        match ch {
            'a'..='z' | '0'..='9' | '_' => out.push(ch),
            'A'..='Z' => out.push(ch.to_ascii_lowercase()),
            _ => {
                if !out.ends_with('_') && !out.is_empty() {
                    out.push('_');
                }
            }
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// `client-type` → `ClientType`.
pub(crate) fn pascal(text: &str) -> String {
    snake(text)
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |f| {
                f.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

fn is_identifier(text: &str) -> bool {
    let s = snake(text);
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A safe Rust identifier for a parameter or method.
fn ident(text: &str) -> String {
    let s = snake(text);
    if KEYWORDS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// The name of an option method or enum variant: the token when it reads as a word and is
/// not a keyword, else the argument's name.
fn choice_name(arg: &Arg) -> String {
    if let Some(token) = &arg.token
        && is_identifier(token)
        && !KEYWORDS.contains(&snake(token).as_str())
    {
        return snake(token);
    }
    ident(&arg.name)
}

struct Planner<'a> {
    command: &'a Command,
    over: &'a Override,
    global: &'a Override,
    method: String,
    params: Vec<Param>,
    steps: Vec<Step>,
    methods: Vec<OptMethod>,
    slots: usize,
    enums: &'a mut BTreeMap<String, EnumDef>,
    used: Vec<String>,
    dependencies: Vec<Dependency>,
}

impl Planner<'_> {
    fn arg_override(&self, arg: &Arg) -> Option<&str> {
        self.over.get(&format!("arg.{}", arg.name))
    }

    fn param_name(&mut self, raw: &str) -> String {
        let base = ident(raw);
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.used.push(name.clone());
        name
    }

    fn push_param(&mut self, raw: &str, ty: ParamTy) -> usize {
        let name = self.param_name(raw);
        self.params.push(Param { name, ty });
        self.params.len() - 1
    }

    fn scalar_ty(&self, arg: &Arg) -> ParamTy {
        match self.arg_override(arg) {
            Some("u64") => return ParamTy::UInt,
            Some("i64") => return ParamTy::Int,
            Some("string") => return ParamTy::Arg,
            _ => {}
        }
        match arg.kind {
            Kind::Integer | Kind::UnixTime => ParamTy::Int,
            _ => ParamTy::Arg,
        }
    }

    /// A required argument at the top level (or inside a required block).
    fn required(&mut self, args: &[Arg], index: usize) -> Result<(), String> {
        let arg = &args[index];
        let over = self.arg_override(arg).map(str::to_owned);
        if arg.optional {
            return self.optional(arg);
        }
        if over.as_deref() == Some("args") {
            if let Some(token) = &arg.token {
                self.steps.push(Step::Token(token.clone()));
            }
            let p = self.push_param(&arg.name, ParamTy::Args { nonempty: false });
            self.steps.push(Step::Param(p));
            return Ok(());
        }
        // `numkeys` followed by keys: counted, not passed.
        if arg.kind == Kind::Integer
            && arg.name == "numkeys"
            && args
                .get(index + 1)
                .is_some_and(|next| next.kind == Kind::Key && next.multiple)
        {
            self.steps.push(Step::CountOf(self.params.len()));
            return Ok(());
        }
        match arg.kind {
            Kind::PureToken => {
                self.steps.push(Step::Token(
                    arg.token.clone().ok_or("a pure token without a token")?,
                ));
            }
            kind if kind.is_scalar() || over.as_deref() == Some("string") => {
                if let Some(token) = &arg.token {
                    self.steps.push(Step::Token(token.clone()));
                }
                let ty = if arg.multiple {
                    if arg.multiple_token {
                        return Err(format!("required `{}` repeats its token", arg.name));
                    }
                    ParamTy::Args { nonempty: true }
                } else {
                    self.scalar_ty(arg)
                };
                let p = self.push_param(&arg.name, ty);
                self.steps.push(Step::Param(p));
            }
            Kind::OneOf => {
                if let Some(token) = &arg.token {
                    self.steps.push(Step::Token(token.clone()));
                }
                let name = self.enum_for(arg, &[])?;
                let ty = if arg.multiple {
                    ParamTy::EnumList {
                        name,
                        nonempty: true,
                    }
                } else {
                    ParamTy::Enum(name)
                };
                let p = self.push_param(&arg.name, ty);
                self.steps.push(Step::Param(p));
            }
            Kind::Block if arg.multiple => {
                if let Some(token) = &arg.token {
                    self.steps.push(Step::Token(token.clone()));
                }
                let mut elems = Vec::new();
                for child in &arg.children {
                    if !child.kind.is_scalar() || child.optional || child.multiple {
                        return Err(format!(
                            "repeated block `{}` holds `{}`, which is not a plain value",
                            arg.name, child.name
                        ));
                    }
                    elems.push(self.scalar_ty(child));
                }
                let p = self.push_param(
                    &arg.name,
                    ParamTy::Tuples {
                        elems,
                        nonempty: true,
                    },
                );
                self.steps.push(Step::Param(p));
            }
            Kind::Block => {
                if let Some(token) = &arg.token {
                    self.steps.push(Step::Token(token.clone()));
                }
                for i in 0..arg.children.len() {
                    self.required(&arg.children, i)?;
                }
            }
            _ => unreachable!("every kind is handled"),
        }
        Ok(())
    }

    fn new_slot(&mut self) -> usize {
        self.steps.push(Step::Slot(self.slots));
        self.slots += 1;
        self.slots - 1
    }

    /// An optional argument: one or more slots of the option struct, with their methods.
    fn optional(&mut self, arg: &Arg) -> Result<(), String> {
        if matches!(self.arg_override(arg), Some("positional" | "args")) {
            if let Some(token) = &arg.token {
                self.steps.push(Step::Token(token.clone()));
            }
            let p = self.push_param(&arg.name, ParamTy::Args { nonempty: false });
            self.steps.push(Step::Param(p));
            return Ok(());
        }
        match arg.kind {
            Kind::Block if !arg.multiple => self.optional_block(arg).map(drop),
            _ => {
                let slot = self.new_slot();
                let methods = self.leaf_methods(arg, slot, arg.multiple, &[])?;
                self.methods.extend(methods);
                Ok(())
            }
        }
    }

    /// An optional block: one method for its required parts, and the optional parts on their own.
    /// Returns the slot of the block's required part, if it has one.
    fn optional_block(&mut self, arg: &Arg) -> Result<Option<usize>, String> {
        let mut params = Vec::new();
        let mut writes: Vec<(usize, Vec<Step>)> = Vec::new();
        let mut pending_token = arg.token.clone();
        // Optional parts that mean nothing without the required part.
        let mut dependents: Vec<(usize, String)> = Vec::new();
        for child in &arg.children {
            if child.optional {
                if child.kind == Kind::Block && !child.multiple {
                    if let Some(slot) = self.optional_block(child)? {
                        let method = self
                            .over
                            .get(&format!("option.{}", child.name))
                            .map_or_else(|| choice_name(child), str::to_owned);
                        dependents.push((slot, method));
                    }
                } else {
                    let slot = self.new_slot();
                    let methods = self.leaf_methods(child, slot, child.multiple, &[])?;
                    self.methods.extend(methods);
                    dependents.push((slot, child.name.clone()));
                }
                continue;
            }
            let slot = self.new_slot();
            let mut steps = Vec::new();
            if let Some(token) = pending_token.take() {
                steps.push(Step::Token(token));
            }
            self.block_child(child, &mut params, &mut steps)?;
            writes.push((slot, steps));
        }
        if writes.is_empty() {
            if arg.token.is_some() {
                return Err(format!(
                    "optional block `{}` has a token but no required part",
                    arg.name
                ));
            }
            return Ok(None);
        }
        let name = self
            .over
            .get(&format!("option.{}", arg.name))
            .map_or_else(|| choice_name(arg), str::to_owned);
        let main = writes[0].0;
        for (slot, what) in dependents {
            self.dependencies.push(Dependency {
                slot,
                what,
                parent: main,
                needs: name.clone(),
            });
        }
        self.methods.push(OptMethod {
            doc: format!("Sets `{}`.", super::spec::syntax_of(arg)),
            name,
            params,
            append: false,
            writes,
        });
        Ok(Some(main))
    }

    /// A required part of a block inside the options: parameters and steps of its method.
    fn block_child(
        &mut self,
        child: &Arg,
        params: &mut Vec<Param>,
        steps: &mut Vec<Step>,
    ) -> Result<(), String> {
        match child.kind {
            Kind::PureToken => steps.push(Step::Token(child.token.clone().unwrap_or_default())),
            Kind::OneOf if child.is_token_choice() && !child.multiple => {
                if let Some(token) = &child.token {
                    steps.push(Step::Token(token.clone()));
                }
                let name = self.enum_for(child, &[])?;
                params.push(Param {
                    name: ident(&child.name),
                    ty: ParamTy::Enum(name),
                });
                steps.push(Step::Param(params.len() - 1));
            }
            Kind::Block if !child.multiple => {
                if let Some(token) = &child.token {
                    steps.push(Step::Token(token.clone()));
                }
                for inner in &child.children {
                    if inner.optional {
                        return Err(format!(
                            "optional `{}` nested in `{}`",
                            inner.name, child.name
                        ));
                    }
                    self.block_child(inner, params, steps)?;
                }
            }
            kind if kind.is_scalar() => {
                if let Some(token) = &child.token {
                    steps.push(Step::Token(token.clone()));
                }
                let ty = if child.multiple {
                    ParamTy::Args { nonempty: true }
                } else {
                    self.scalar_ty(child)
                };
                params.push(Param {
                    name: ident(&child.name),
                    ty,
                });
                steps.push(Step::Param(params.len() - 1));
            }
            _ => {
                return Err(format!(
                    "`{}` inside an optional block needs an override",
                    child.name
                ));
            }
        }
        Ok(())
    }

    /// The option methods that write `arg` into `slot`.
    fn leaf_methods(
        &mut self,
        arg: &Arg,
        slot: usize,
        append: bool,
        prefix: &[String],
    ) -> Result<Vec<OptMethod>, String> {
        let mut prefix = prefix.to_vec();
        let renamed = self
            .over
            .get(&format!("option.{}", arg.name))
            .map(str::to_owned);
        let name = renamed.unwrap_or_else(|| choice_name(arg));
        let doc = format!("Adds `{}`.", super::spec::syntax_of(arg));
        match arg.kind {
            Kind::PureToken => {
                let mut steps: Vec<Step> = prefix.into_iter().map(Step::Token).collect();
                steps.push(Step::Token(arg.token.clone().unwrap_or_default()));
                Ok(vec![OptMethod {
                    name,
                    doc,
                    params: Vec::new(),
                    append,
                    writes: vec![(slot, steps)],
                }])
            }
            kind if kind.is_scalar() => {
                let mut steps: Vec<Step> = prefix.into_iter().map(Step::Token).collect();
                if let Some(token) = &arg.token {
                    steps.push(Step::Token(token.clone()));
                }
                let ty = if arg.multiple && !arg.multiple_token {
                    ParamTy::Args { nonempty: true }
                } else {
                    self.scalar_ty(arg)
                };
                steps.push(Step::Param(0));
                let append = if arg.multiple {
                    arg.multiple_token
                } else {
                    append
                };
                Ok(vec![OptMethod {
                    name,
                    doc,
                    params: vec![Param {
                        name: ident(&arg.name),
                        ty,
                    }],
                    append,
                    writes: vec![(slot, steps)],
                }])
            }
            Kind::OneOf => {
                if let Some(token) = &arg.token {
                    prefix.push(token.clone());
                }
                let mut out = Vec::new();
                for alt in &arg.children {
                    let mut alt = alt.clone();
                    alt.optional = false;
                    alt.multiple = alt.multiple && !arg.multiple;
                    out.extend(self.leaf_methods(&alt, slot, append, &prefix)?);
                }
                Ok(out)
            }
            Kind::Block => {
                let mut params = Vec::new();
                let mut steps: Vec<Step> = prefix.into_iter().map(Step::Token).collect();
                if let Some(token) = &arg.token {
                    steps.push(Step::Token(token.clone()));
                }
                for child in &arg.children {
                    if child.optional {
                        return Err(format!(
                            "optional `{}` inside `{}` of {} needs an override",
                            child.name, arg.name, self.command.name
                        ));
                    }
                    self.block_child(child, &mut params, &mut steps)?;
                }
                Ok(vec![OptMethod {
                    name,
                    doc,
                    params,
                    append,
                    writes: vec![(slot, steps)],
                }])
            }
            _ => unreachable!("every kind is handled"),
        }
    }

    /// The enum type for a one-of, generated on first use.
    fn enum_for(&mut self, arg: &Arg, path: &[&str]) -> Result<String, String> {
        if arg.is_token_choice() {
            let key = format!("enum.{}", arg.choice_tokens().join("|"));
            let name = match self.global.get(&key) {
                Some(name) => name.to_owned(),
                None => {
                    let existing = self
                        .enums
                        .values()
                        .find(|e| e.tokens_only && variant_key(e) == key)
                        .map(|e| e.name.clone());
                    match existing {
                        Some(name) => name,
                        None => format!("{}{}", pascal(&self.method), pascal(&arg.name)),
                    }
                }
            };
            if !self.enums.contains_key(&name) {
                let variants = arg
                    .children
                    .iter()
                    .map(|c| Variant {
                        name: pascal(&choice_name(c)),
                        doc: format!("`{}`", c.token.clone().unwrap_or_default()),
                        fields: Vec::new(),
                        writes: vec![FieldWrite::Token(c.token.clone().unwrap_or_default())],
                    })
                    .collect();
                self.enums.insert(
                    name.clone(),
                    EnumDef {
                        name: name.clone(),
                        doc: format!("The tokens {}.", token_list(arg)),
                        variants,
                        tokens_only: true,
                    },
                );
            }
            return Ok(name);
        }
        let mut full: Vec<&str> = path.to_vec();
        full.push(&arg.name);
        let name = self.over.get(&format!("enum.{}", arg.name)).map_or_else(
            || format!("{}{}", pascal(&self.method), pascal(&full.join("-"))),
            str::to_owned,
        );
        let mut variants = Vec::new();
        for alt in &arg.children {
            variants.push(self.variant(alt, &full)?);
        }
        self.enums.insert(
            name.clone(),
            EnumDef {
                doc: format!(
                    "The `{}` argument of `{}`: `{}`.",
                    arg.name,
                    self.command.name,
                    super::spec::syntax_of(arg)
                ),
                name: name.clone(),
                variants,
                tokens_only: false,
            },
        );
        Ok(name)
    }

    fn variant(&mut self, alt: &Arg, path: &[&str]) -> Result<Variant, String> {
        let mut fields = Vec::new();
        let mut writes = Vec::new();
        let name = self
            .over
            .get(&format!("variant.{}", alt.name))
            .map_or_else(|| pascal(&alt.name), str::to_owned);
        let doc = format!("`{}`", super::spec::syntax_of(alt));
        match alt.kind {
            Kind::Block if !alt.multiple => {
                if let Some(token) = &alt.token {
                    writes.push(FieldWrite::Token(token.clone()));
                }
                for child in &alt.children {
                    self.variant_field(child, path, &mut fields, &mut writes)?;
                }
            }
            _ => {
                let mut copy = alt.clone();
                copy.optional = false;
                self.variant_field(&copy, path, &mut fields, &mut writes)?;
            }
        }
        Ok(Variant {
            name,
            doc,
            fields,
            writes,
        })
    }

    fn variant_field(
        &mut self,
        arg: &Arg,
        path: &[&str],
        fields: &mut Vec<(String, String)>,
        writes: &mut Vec<FieldWrite>,
    ) -> Result<(), String> {
        let field_ty = |kind: Kind| match kind {
            Kind::Integer | Kind::UnixTime => "i64",
            Kind::Double => "f64",
            _ => "Bytes",
        };
        let index = fields.len();
        let field_name = ident(&arg.name);
        match arg.kind {
            Kind::PureToken if arg.optional => {
                fields.push((field_name, "bool".to_owned()));
                writes.push(FieldWrite::Flag(
                    index,
                    arg.token.clone().unwrap_or_default(),
                ));
            }
            Kind::PureToken => {
                writes.push(FieldWrite::Token(arg.token.clone().unwrap_or_default()))
            }
            kind if kind.is_scalar() => {
                let ty = field_ty(kind);
                if arg.multiple {
                    fields.push((field_name, format!("Vec<{ty}>")));
                    if !arg.multiple_token
                        && let Some(token) = &arg.token
                    {
                        writes.push(FieldWrite::Token(token.clone()));
                    }
                    writes.push(FieldWrite::List(
                        index,
                        arg.token.clone(),
                        arg.multiple_token,
                    ));
                } else if arg.optional {
                    fields.push((field_name, format!("Option<{ty}>")));
                    writes.push(FieldWrite::Optional(index, arg.token.clone()));
                } else {
                    if let Some(token) = &arg.token {
                        writes.push(FieldWrite::Token(token.clone()));
                    }
                    fields.push((field_name, ty.to_owned()));
                    writes.push(FieldWrite::Value(index));
                }
            }
            Kind::Block if arg.multiple => {
                let tys: Vec<&str> = arg
                    .children
                    .iter()
                    .map(|c| {
                        if c.kind.is_scalar() && !c.optional && !c.multiple {
                            Ok(field_ty(c.kind))
                        } else {
                            Err(format!("`{}` in repeated block `{}`", c.name, arg.name))
                        }
                    })
                    .collect::<Result<_, _>>()?;
                if tys.len() != 2 {
                    return Err(format!("repeated block `{}` is not a pair", arg.name));
                }
                if let Some(token) = &arg.token {
                    writes.push(FieldWrite::Token(token.clone()));
                }
                fields.push((field_name, format!("Vec<({}, {})>", tys[0], tys[1])));
                writes.push(FieldWrite::Pairs(index));
            }
            Kind::Block => {
                if arg.optional {
                    return Err(format!("optional block `{}` inside a choice", arg.name));
                }
                if let Some(token) = &arg.token {
                    writes.push(FieldWrite::Token(token.clone()));
                }
                for child in &arg.children {
                    self.variant_field(child, path, fields, writes)?;
                }
            }
            Kind::OneOf => {
                if let Some(token) = &arg.token {
                    writes.push(FieldWrite::Token(token.clone()));
                }
                let ty = self.enum_for(arg, path)?;
                if arg.multiple {
                    fields.push((field_name, format!("Vec<{ty}>")));
                    writes.push(FieldWrite::EnumList(index));
                } else if arg.optional {
                    fields.push((field_name, format!("Option<{ty}>")));
                    writes.push(FieldWrite::OptionalEnum(index));
                } else {
                    fields.push((field_name, ty));
                    writes.push(FieldWrite::Enum(index));
                }
            }
            _ => unreachable!("every kind is handled"),
        }
        Ok(())
    }
}

fn variant_key(e: &EnumDef) -> String {
    let tokens: Vec<String> = e
        .variants
        .iter()
        .filter_map(|v| match v.writes.first() {
            Some(FieldWrite::Token(t)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    format!("enum.{}", tokens.join("|"))
}

fn token_list(arg: &Arg) -> String {
    arg.choice_tokens()
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reply type the schema describes.
pub(crate) fn reply_from_schema(schema: Option<&Json>) -> Reply {
    let Some(schema) = schema else {
        return Reply::Generic;
    };
    if schema.get("const").and_then(Json::as_str) == Some("OK") {
        return Reply::Fixed("()".to_owned());
    }
    let ty = schema.get("type").and_then(Json::as_str);
    match ty {
        Some("integer") => return Reply::Fixed(integer_type(&[schema]).to_owned()),
        Some("number") => return Reply::Fixed("f64".to_owned()),
        _ => {}
    }
    let alternatives = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Json::as_array);
    let Some(alternatives) = alternatives else {
        return Reply::Generic;
    };
    let nullable = alternatives
        .iter()
        .any(|a| a.get("type").and_then(Json::as_str) == Some("null"));
    let rest: Vec<&Json> = alternatives
        .iter()
        .filter(|a| a.get("type").and_then(Json::as_str) != Some("null"))
        .collect();
    if rest.is_empty() {
        return Reply::Generic;
    }
    let consts: Vec<Option<i64>> = rest
        .iter()
        .map(|a| a.get("const").and_then(Json::as_i64))
        .collect();
    if !nullable && consts.iter().all(Option::is_some) {
        let mut values: Vec<i64> = consts.into_iter().flatten().collect();
        values.sort_unstable();
        if values == [0, 1] {
            return Reply::Fixed("bool".to_owned());
        }
    }
    let all_integers = rest.iter().all(|a| {
        a.get("type").and_then(Json::as_str) == Some("integer")
            || a.get("const").and_then(Json::as_i64).is_some()
    });
    if all_integers {
        let ty = integer_type(&rest);
        return Reply::Fixed(if nullable {
            format!("Option<{ty}>")
        } else {
            ty.to_owned()
        });
    }
    if rest
        .iter()
        .all(|a| a.get("type").and_then(Json::as_str) == Some("number"))
    {
        return Reply::Fixed(if nullable { "Option<f64>" } else { "f64" }.to_owned());
    }
    if !nullable
        && rest
            .iter()
            .all(|a| a.get("const").and_then(Json::as_str) == Some("OK"))
    {
        return Reply::Fixed("()".to_owned());
    }
    Reply::Generic
}

/// `u64` when every alternative says the value is never negative, else `i64`.
fn integer_type(alternatives: &[&Json]) -> &'static str {
    let never_negative = alternatives.iter().all(|a| {
        a.get("minimum")
            .and_then(Json::as_i64)
            .is_some_and(|m| m >= 0)
            || a.get("const")
                .and_then(Json::as_i64)
                .is_some_and(|c| c >= 0)
    });
    if never_negative { "u64" } else { "i64" }
}

fn parse_reply(text: &str) -> Reply {
    if text == "T" {
        Reply::Generic
    } else {
        Reply::Fixed(text.to_owned())
    }
}

/// Plans every command.
pub(crate) fn plan(
    commands: &[Command],
    overrides: &BTreeMap<String, Override>,
) -> Result<Model, String> {
    let empty = Override::default();
    let global = overrides.get("*").unwrap_or(&empty);
    let mut enums = BTreeMap::new();
    let mut model = Model::default();
    for command in commands {
        if command.is_container && command.name != "COMMAND" {
            continue;
        }
        let over = overrides.get(&command.name).unwrap_or(&empty);
        if let Some(reason) = over.get("skip") {
            model.skipped.push(Skipped {
                command: command.name.clone(),
                reason: reason.to_owned(),
            });
            continue;
        }
        let method = over
            .get("method")
            .map_or_else(|| snake(&command.name), str::to_owned);
        if KEYWORDS.contains(&method.as_str()) {
            return Err(format!(
                "{}: the method name `{method}` is a Rust keyword; set `method` in the overrides",
                command.name
            ));
        }
        let mut planner = Planner {
            command,
            over,
            global,
            method: method.clone(),
            params: Vec::new(),
            steps: Vec::new(),
            methods: Vec::new(),
            slots: 0,
            enums: &mut enums,
            used: Vec::new(),
            dependencies: Vec::new(),
        };
        for word in command.name.split(' ') {
            planner.steps.push(Step::Token(word.to_owned()));
        }
        for i in 0..command.args.len() {
            planner
                .required(&command.args, i)
                .map_err(|e| format!("{}: {e}", command.name))?;
        }
        // Commands whose arguments the specification does not describe (DEBUG).
        if let Some(name) = over.get("args") {
            let p = planner.push_param(name, ParamTy::Args { nonempty: true });
            planner.steps.push(Step::Param(p));
        }
        let mut seen: Vec<&str> = Vec::new();
        for m in &planner.methods {
            if seen.contains(&m.name.as_str()) {
                return Err(format!(
                    "{}: two option methods are named `{}`; rename one with `option.<argument> = name`",
                    command.name, m.name
                ));
            }
            seen.push(&m.name);
        }
        let options = (planner.slots > 0).then(|| OptionsPlan {
            name: over
                .get("options")
                .map_or_else(|| format!("{}Options", pascal(&method)), str::to_owned),
            slots: planner.slots,
            methods: planner.methods.clone(),
            dependencies: planner.dependencies.clone(),
        });
        let schema_reply = reply_from_schema(command.reply_schema.as_ref());
        let reply = over.get("reply").map_or(schema_reply, parse_reply);
        let reply_with = over
            .get("reply_with")
            .map_or_else(|| reply.clone(), parse_reply);
        let known = [
            "skip",
            "method",
            "reply",
            "reply_with",
            "args",
            "options",
            "redis_py",
            "doc",
        ];
        for key in over.props.keys() {
            if !known.contains(&key.as_str())
                && !key.starts_with("arg.")
                && !key.starts_with("option.")
                && !key.starts_with("enum.")
                && !key.starts_with("variant.")
            {
                return Err(format!(
                    "{}: unknown override `{key}` (line {})",
                    command.name, over.line
                ));
            }
        }
        model.plans.push(Plan {
            command: command.clone(),
            method,
            params: planner.params,
            steps: planner.steps,
            options,
            reply,
            reply_with,
            redis_py: over.get("redis_py").map(str::to_owned),
            doc: over.get("doc").map(str::to_owned),
        });
    }
    for name in overrides.keys() {
        if name != "*" && !commands.iter().any(|c| &c.name == name) {
            return Err(format!(
                "the overrides name [{name}], which the specification does not have"
            ));
        }
    }
    let mut methods: Vec<&str> = model.plans.iter().map(|p| p.method.as_str()).collect();
    methods.sort_unstable();
    if let Some(w) = methods.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("two commands get the method name `{}`", w[0]));
    }
    model.enums = enums.into_values().collect();
    Ok(model)
}
