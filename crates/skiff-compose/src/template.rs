//! Variable interpolation in compose values: `$VAR`, `${VAR}`, `${VAR:-default}` and the
//! other shell-like forms, with `$$` standing for a literal `$`.
//!
//! The behaviour follows compose-go v2.9.1 (`template` package) to the letter, quirks
//! included:
//!
//! - a name is `[A-Za-z_][A-Za-z0-9_]*` (matched case-insensitively, so the Kelvin sign
//!   U+212A and the long s U+017F also count as letters, as they do for Go's regexp);
//! - `$` followed by anything that starts neither a name, `{` nor `$` is kept literally
//!   (`"a $ b"`, `"$}"`, `"$1"`, a trailing `$`);
//! - `${` that does not open a well-formed expression is an invalid template (`${`, `${}`,
//!   `${ X}`, `${X }`, `${X!}`, `${1}`);
//! - an expression with an operator (`:-`, `-`, `:?`, `?`, `:+`, `+`) first extends to the
//!   last `}` of the line, then is cut at the `}` that balances its opening brace; what
//!   follows the cut is interpolated on its own and appended;
//! - the argument of an operator (default, alternative or error message) is interpolated
//!   before the variable is looked at, so its errors surface even when unused;
//! - the operator in effect is the first one that occurs in the expression.

/// Looks a variable up: `None` when it is unset (as opposed to set to the empty string).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why a template could not be interpolated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    /// A `${` that does not open a well-formed expression. `template` is the (sub)template in
    /// which it was found, as compose reports it: the whole value, or the default /
    /// alternative / trailing part of an expression when the problem lies there.
    #[error("invalid template: {template:?}")]
    Invalid { template: String },
    /// `${VAR?message}` with `VAR` unset, or `${VAR:?message}` with `VAR` unset or empty.
    /// `message` is already interpolated and may be empty.
    #[error("required variable {variable} is missing a value{}", reason_suffix(.message))]
    Required { variable: String, message: String },
}

fn reason_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// A variable named by a template, as listed by [`variables`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableRef {
    pub name: String,
    /// The expression says what to do when the variable is unset: a default (`${VAR-x}`,
    /// `${VAR:-x}`) or an alternative (`${VAR+x}`, `${VAR:+x}`). Compose warns about an
    /// unset variable ("defaulting to a blank string") only when this and `required` are
    /// both false.
    pub has_default: bool,
    /// The expression fails when the variable is unset (`${VAR?msg}`, `${VAR:?msg}`).
    pub required: bool,
}

/// Nesting depth (operator arguments inside operator arguments) beyond which a template is
/// rejected as invalid rather than risking the stack.
const MAX_DEPTH: usize = 200;

/// Replaces every variable reference in `template` by its value.
///
/// An unset variable without operator becomes the empty string.
///
/// # Errors
/// [`TemplateError::Invalid`] for a malformed `${...}`, [`TemplateError::Required`] for a
/// `?` / `:?` expression whose variable is missing.
pub fn substitute(template: &str, lookup: Lookup<'_>) -> Result<String, TemplateError> {
    expand(template, lookup, 0)
}

/// Every variable `template` refers to, in order of appearance (one entry per reference),
/// including those in defaults, alternatives and error messages. Escaped `$$` and malformed
/// `${` are not references.
#[must_use]
pub fn variables(template: &str) -> Vec<VariableRef> {
    let mut out = Vec::new();
    collect_variables(template, &mut out, 0);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    /// `:?`: error when unset or empty.
    RequiredNonEmpty,
    /// `?`: error when unset.
    Required,
    /// `:-`: default when unset or empty.
    DefaultNonEmpty,
    /// `-`: default when unset.
    Default,
    /// `:+`: alternative when set and non-empty.
    AlternativeNonEmpty,
    /// `+`: alternative when set.
    Alternative,
}

const OPERATORS: [(&str, Operator); 6] = [
    (":?", Operator::RequiredNonEmpty),
    ("?", Operator::Required),
    (":-", Operator::DefaultNonEmpty),
    ("-", Operator::Default),
    (":+", Operator::AlternativeNonEmpty),
    ("+", Operator::Alternative),
];

impl Operator {
    fn symbol(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(s, _)| s)
    }
}

/// The operator whose symbol occurs first in `expr` (the symbols never start at the same
/// position, so there are no ties).
fn first_operator(expr: &str) -> Option<Operator> {
    OPERATORS
        .iter()
        .filter_map(|(sym, op)| expr.find(sym).map(|i| (i, *op)))
        .min_by_key(|(i, _)| *i)
        .map(|(_, op)| op)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind<'t> {
    /// `$$`
    Escaped,
    /// `$NAME`
    Named(&'t str),
    /// `${NAME}` or `${NAME<op>...}`: the token text is the whole expression.
    Braced,
    /// `${` not opening a well-formed expression (the token is those two bytes).
    Invalid,
}

#[derive(Debug, Clone, Copy)]
struct Token<'t> {
    start: usize,
    end: usize,
    kind: TokenKind<'t>,
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic() || c == '\u{17F}' || c == '\u{212A}'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// Byte length of the name at the start of `s` (0 when `s` does not start with a name).
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !is_name_char(*c))
        .map_or(s.len(), |(i, _)| i)
}

/// The next token at or after byte `from`.
fn next_token(s: &str, from: usize) -> Option<Token<'_>> {
    let mut at = from;
    while let Some(off) = s.get(at..).and_then(|t| t.find('$')) {
        let start = at + off;
        if let Some(tok) = token_at(s, start) {
            return Some(tok);
        }
        at = start + 1;
    }
    None
}

/// The token starting at the `$` at byte `start`, if any.
fn token_at(s: &str, start: usize) -> Option<Token<'_>> {
    let after = s.get(start + 1..)?;
    let token = |end, kind| Some(Token { start, end, kind });
    match after.chars().next()? {
        '$' => token(start + 2, TokenKind::Escaped),
        c if is_name_start(c) => {
            let end = start + 1 + name_len(after);
            token(end, TokenKind::Named(&s[start + 1..end]))
        }
        '{' => {
            let body_start = start + 2;
            let body = &s[body_start..];
            let n = name_len(body);
            if n == 0 {
                return token(body_start, TokenKind::Invalid);
            }
            let after_name = &body[n..];
            let name_end = body_start + n;
            let bytes = after_name.as_bytes();
            let op_len = match bytes {
                [b':', b'-' | b'+' | b'?', ..] => 2,
                [b'-' | b'+' | b'?', ..] => 1,
                _ => 0,
            };
            if op_len > 0 {
                // The argument runs to the last `}` of the line.
                let arg_start = name_end + op_len;
                let line = &s[arg_start..];
                let line = line.find('\n').map_or(line, |i| &line[..i]);
                if let Some(close) = line.rfind('}') {
                    return token(arg_start + close + 1, TokenKind::Braced);
                }
            } else if bytes.first() == Some(&b'}') {
                return token(name_end + 1, TokenKind::Braced);
            }
            token(body_start, TokenKind::Invalid)
        }
        _ => None,
    }
}

/// Index of the `}` that closes the first `{` of `s`: braces are counted, and the byte right
/// after each `{` is skipped (so `{}` nested in a default does not count as a pair).
fn closing_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut open = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'}' => {
                open = open.wrapping_sub(1);
                if open == 0 {
                    return Some(i);
                }
            }
            b'{' => {
                open = open.wrapping_add(1);
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A braced expression split up: `${name<op>arg}` followed by `tail` (text after the balancing
/// brace, interpolated on its own).
struct Expression<'t> {
    /// The expression's text between `${` and the balancing `}`.
    body: &'t str,
    /// Byte length of `${body}` within the token.
    head_len: usize,
    operator: Option<(Operator, &'t str, &'t str)>,
}

fn split_expression(token: &str) -> Expression<'_> {
    let head_len = closing_brace(token).map_or(token.len(), |c| c + 1);
    let body = token.get(2..head_len.saturating_sub(1)).unwrap_or("");
    // The first operator of the whole token is the one right after the name, which lies
    // before the balancing brace: looking at the head alone gives the same answer.
    let operator = first_operator(&token[..head_len]).and_then(|op| {
        body.split_once(op.symbol())
            .map(|(name, arg)| (op, name, arg))
    });
    Expression {
        body,
        head_len,
        operator,
    }
}

fn expand(template: &str, lookup: Lookup<'_>, depth: usize) -> Result<String, TemplateError> {
    if depth > MAX_DEPTH {
        return Err(TemplateError::Invalid {
            template: template.to_owned(),
        });
    }
    let mut out = String::with_capacity(template.len());
    let mut pos = 0;
    // While inside the tail of an operator expression (`${A:-x}tail`, tail being interpolated
    // on its own), errors name that tail rather than the whole template. Nested tails all end
    // where the outer expression ends, so one range is enough.
    let mut tail: Option<(usize, usize)> = None;
    while let Some(tok) = next_token(template, pos) {
        out.push_str(&template[pos..tok.start]);
        if tail.is_some_and(|(_, end)| tok.start >= end) {
            tail = None;
        }
        match tok.kind {
            TokenKind::Escaped => out.push('$'),
            TokenKind::Named(name) => out.push_str(&lookup(name).unwrap_or_default()),
            TokenKind::Invalid => {
                let context = tail.map_or(template, |(s, e)| &template[s..e]);
                return Err(TemplateError::Invalid {
                    template: context.to_owned(),
                });
            }
            TokenKind::Braced => {
                let text = &template[tok.start..tok.end];
                let expr = split_expression(text);
                match expr.operator {
                    Some((op, name, arg)) => {
                        out.push_str(&apply(op, name, arg, lookup, depth)?);
                        if expr.head_len < text.len() {
                            let tail_start = tok.start + expr.head_len;
                            tail = Some((tail_start, tok.end));
                            pos = tail_start;
                            continue;
                        }
                    }
                    None => out.push_str(&lookup(expr.body).unwrap_or_default()),
                }
            }
        }
        pos = tok.end;
    }
    out.push_str(&template[pos..]);
    Ok(out)
}

fn apply(
    op: Operator,
    name: &str,
    arg: &str,
    lookup: Lookup<'_>,
    depth: usize,
) -> Result<String, TemplateError> {
    let arg = expand(arg, lookup, depth + 1)?;
    let value = lookup(name);
    let set_non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    Ok(match op {
        Operator::Default => value.unwrap_or(arg),
        Operator::DefaultNonEmpty => {
            if set_non_empty {
                value.unwrap_or_default()
            } else {
                arg
            }
        }
        Operator::Alternative => {
            if value.is_some() {
                arg
            } else {
                String::new()
            }
        }
        Operator::AlternativeNonEmpty => {
            if set_non_empty {
                arg
            } else {
                value.unwrap_or_default()
            }
        }
        Operator::Required | Operator::RequiredNonEmpty => {
            let missing = match op {
                Operator::Required => value.is_none(),
                _ => !set_non_empty,
            };
            if missing {
                return Err(TemplateError::Required {
                    variable: name.to_owned(),
                    message: arg,
                });
            }
            value.unwrap_or_default()
        }
    })
}

fn collect_variables(template: &str, out: &mut Vec<VariableRef>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut pos = 0;
    while let Some(tok) = next_token(template, pos) {
        pos = tok.end;
        match tok.kind {
            TokenKind::Escaped | TokenKind::Invalid => {}
            TokenKind::Named(name) => out.push(VariableRef {
                name: name.to_owned(),
                has_default: false,
                required: false,
            }),
            TokenKind::Braced => {
                let text = &template[tok.start..tok.end];
                let expr = split_expression(text);
                match expr.operator {
                    Some((op, name, arg)) => {
                        out.push(VariableRef {
                            name: name.to_owned(),
                            has_default: !matches!(
                                op,
                                Operator::Required | Operator::RequiredNonEmpty
                            ),
                            required: matches!(op, Operator::Required | Operator::RequiredNonEmpty),
                        });
                        collect_variables(arg, out, depth + 1);
                        if expr.head_len < text.len() {
                            pos = tok.start + expr.head_len;
                        }
                    }
                    None => out.push(VariableRef {
                        name: expr.body.to_owned(),
                        has_default: false,
                        required: false,
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Env = &'static [(&'static str, &'static str)];

    #[derive(Debug)]
    enum Want {
        Ok(&'static str),
        Invalid(&'static str),
        Required(&'static str, &'static str),
    }
    use Want::{Invalid, Ok as Out, Required};

    /// The variables compose-go's template tests (and the cg-interp corpus cases) use.
    const D: Env = &[("FOO", "first"), ("BAR", ""), ("JSON", r#"{"json":2}"#)];

    fn run(template: &str, env: Env) -> Result<String, TemplateError> {
        let lookup = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        substitute(template, &lookup)
    }

    fn check(label: &str, template: &str, env: Env, want: &Want) {
        let got = run(template, env);
        let want = match want {
            Out(s) => Ok((*s).to_owned()),
            Invalid(t) => Err(TemplateError::Invalid {
                template: (*t).to_owned(),
            }),
            Required(v, m) => Err(TemplateError::Required {
                variable: (*v).to_owned(),
                message: (*m).to_owned(),
            }),
        };
        assert_eq!(got, want, "{label}: {template:?}");
    }

    /// (template, variables, result)
    #[rustfmt::skip]
    const CASES: &[(&str, Env, Want)] = &[
        // escaping
        ("$${foo}", D, Out("${foo}")),
        ("foo", D, Out("foo")),
        ("$$$FOO", D, Out("$first")),
        ("$$$", D, Out("$$")),
        ("$$FOO", D, Out("$FOO")),
        // a `$` that starts nothing stays
        ("a $ string", D, Out("a $ string")),
        ("^REGEX$", D, Out("^REGEX$")),
        ("$}", D, Out("$}")),
        ("$", D, Out("$")),
        ("$1", D, Out("$1")),
        ("$-x", D, Out("$-x")),
        ("$é", D, Out("$é")),
        ("$ {FOO}", D, Out("$ {FOO}")),
        // invalid templates
        ("${", D, Invalid("${")),
        ("${}", D, Invalid("${}")),
        ("${ }", D, Invalid("${ }")),
        ("${ foo}", D, Invalid("${ foo}")),
        ("${foo }", D, Invalid("${foo }")),
        ("${foo!}", D, Invalid("${foo!}")),
        ("${1}", D, Invalid("${1}")),
        ("${FOO", D, Invalid("${FOO")),
        ("${FOO:}", D, Invalid("${FOO:}")),
        ("${FOO:=x}", D, Invalid("${FOO:=x}")),
        ("${FOO:-x", D, Invalid("${FOO:-x")),
        ("${FOO\n}", D, Invalid("${FOO\n}")),
        ("${FOO:-a\n}", D, Invalid("${FOO:-a\n}")),
        ("ok ${FOO} then ${", D, Invalid("ok ${FOO} then ${")),
        ("${VAR.WITH.DOTS-<unset>}", D, Invalid("${VAR.WITH.DOTS-<unset>}")),
        // the invalid default or tail is what gets reported
        ("x ${UNSET:-${}}", D, Invalid("${}")),
        ("x ${UNSET:-a}${ }", D, Invalid("${ }")),
        ("x ${UNSET:-a}b${A:-c}${ }", D, Invalid("${ }")),
        ("x ${UNSET:-a}\n${ }", D, Invalid("x ${UNSET:-a}\n${ }")),
        // plain references
        ("$FOO-bar", D, Out("first-bar")),
        ("This ${missing} var", D, Out("This  var")),
        ("This ${BAR} var", D, Out("This  var")),
        ("This $FOO var", D, Out("This first var")),
        ("This ${FOO} var", D, Out("This first var")),
        ("$FOO$FOO", D, Out("firstfirst")),
        ("${FOO}${FOO}", D, Out("firstfirst")),
        ("$foo", D, Out("")),
        ("$FOO.bar", D, Out("first.bar")),
        ("$_", &[("_", "u")], Out("u")),
        ("${a1_B2}", &[("a1_B2", "v")], Out("v")),
        // Go's case-insensitive [a-z] also takes the Kelvin sign and the long s
        ("$\u{212A}x", &[("\u{212A}x", "kelvin")], Out("kelvin")),
        ("${\u{17F}}", &[("\u{17F}", "long s")], Out("long s")),
        ("é$FOO→${FOO}ü", D, Out("éfirst→firstü")),
        // defaults
        ("ok ${missing:-def}", D, Out("ok def")),
        ("ok ${missing-def}", D, Out("ok def")),
        ("ok ${BAR:-def}", D, Out("ok def")),
        ("ok ${FOO:-def}", D, Out("ok first")),
        ("ok ${BAR-def}", D, Out("ok ")),
        ("ok ${UNSET-}", D, Out("ok ")),
        ("ok ${BAR:-/non:-alphanumeric}", D, Out("ok /non:-alphanumeric")),
        // alternatives
        ("ok ${UNSET_VAR:+presence_value}", D, Out("ok ")),
        ("ok ${UNSET_VAR+presence_value}", D, Out("ok ")),
        ("ok ${FOO:+presence_value}", D, Out("ok presence_value")),
        ("ok ${FOO+presence_value}", D, Out("ok presence_value")),
        ("ok ${BAR+presence_value}", D, Out("ok presence_value")),
        ("ok ${BAR:+presence_value}", D, Out("ok ")),
        // text around an expression is not mistaken for an operator
        ("-ok ${BAR:-defaultValue}", D, Out("-ok defaultValue")),
        ("+ok ${UNSET:-${BAR-defaultValue}}", D, Out("+ok ")),
        ("-ok ${FOO:-defaultValue}", D, Out("-ok first")),
        (":-ok ${UNSET-defaultValue}", D, Out(":-ok defaultValue")),
        (":-ok ${BAR-defaultValue}", D, Out(":-ok ")),
        (":?ok ${BAR-defaultValue}", D, Out(":?ok ")),
        (":?ok ${BAR:-defaultValue}", D, Out(":?ok defaultValue")),
        (":+ok ${BAR:-defaultValue}", D, Out(":+ok defaultValue")),
        ("+ok ${BAR-defaultValue}", D, Out("+ok ")),
        ("?ok ${BAR:-defaultValue}", D, Out("?ok defaultValue")),
        // nested templates
        ("ok ${UNSET_VAR-$FOO}", D, Out("ok first")),
        ("ok ${UNSET_VAR-${FOO}}", D, Out("ok first")),
        ("ok ${UNSET_VAR-${FOO} ${FOO}}", D, Out("ok first first")),
        ("ok ${BAR:-$FOO}", D, Out("ok first")),
        ("ok ${BAR:-${FOO}}", D, Out("ok first")),
        ("ok ${BAR:-${FOO} ${FOO}}", D, Out("ok first first")),
        ("ok ${BAR+$FOO}", D, Out("ok first")),
        ("ok ${BAR+$FOO ${FOO:+second}}", D, Out("ok first second")),
        ("${UNSET:-${UNSET2:-${FOO}}}", D, Out("first")),
        ("${FOO:+${BAR-x}}", D, Out("")),
        ("${UNSET:-$$FOO}", D, Out("$FOO")),
        // what follows the balancing brace is interpolated on its own
        ("${FOO:-a}-${BAR}", D, Out("first-")),
        ("${UNSET:-a}${FOO}", D, Out("afirst")),
        ("${UNSET:-a}b}", D, Out("ab}")),
        ("${UNSET:-a} $FOO ${UNSET:-b} $$ ${FOO}.", D, Out("a first b $ first.")),
        ("${FOO-a}:-b", D, Out("first:-b")),
        ("${UNSET:-x}\n${FOO:-y}", D, Out("x\nfirst")),
        ("${UNSET:-é}ü}", D, Out("éü}")),
        // the byte right after a `{` is skipped when balancing braces
        ("${UNSET:-{}", D, Out("{")),
        ("${FOO:-{}", D, Out("first")),
        ("${UNSET:-{}x}", D, Out("{}x")),
        // required
        ("not ok ${UNSET_VAR:?Mandatory Variable Unset}", D, Required("UNSET_VAR", "Mandatory Variable Unset")),
        ("not ok ${BAR:?Mandatory Variable Empty}", D, Required("BAR", "Mandatory Variable Empty")),
        ("not ok ${UNSET_VAR:?}", D, Required("UNSET_VAR", "")),
        ("not ok ${UNSET_VAR?Mandatory Variable Unset}", D, Required("UNSET_VAR", "Mandatory Variable Unset")),
        ("not ok ${UNSET_VAR?}", D, Required("UNSET_VAR", "")),
        ("not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}", D, Required("UNSET_VAR", "Mandatory Variable first")),
        ("not ok ${UNSET_VAR?Mandatory Variable ${FOO}}", D, Required("UNSET_VAR", "Mandatory Variable first")),
        ("ok ${FOO:?err}", D, Out("ok first")),
        ("ok ${FOO?err}", D, Out("ok first")),
        ("ok ${BAR?err}", D, Out("ok ")),
        ("ok ${FOO?}", D, Out("ok first")),
        ("ok ${SUBDOMAIN:-redis}.${FOO:?}", D, Out("ok redis.first")),
        ("${UNSET:-a}${UNSET2?gone}", D, Required("UNSET2", "gone")),
        // an argument is interpolated (and may fail) even when it is not used
        ("${FOO:-${BAR:?oops}}", D, Required("BAR", "oops")),
        ("${FOO:-${}}", D, Invalid("${}")),
        // the first operator wins
        ("${UNSET_VAR?bar-baz}", D, Required("UNSET_VAR", "bar-baz")),
        ("${UNSET_VAR-myerror?msg}", D, Out("myerror?msg")),
        ("${FOO?bar-baz}", D, Out("first")),
        ("${BAR:-default_value_for_empty_var}", D, Out("default_value_for_empty_var")),
        ("${UNSET_VAR-default_value_for_unset_var}", D, Out("default_value_for_unset_var")),
        ("${UNSET?a:-b}", D, Required("UNSET", "a:-b")),
        ("${UNSET+a:?b}", D, Out("")),
        // braces in defaults
        (r#"ok ${missing:-{"json":1}}"#, D, Out(r#"ok {"json":1}"#)),
        (r#"ok ${missing-{"json":1}}"#, D, Out(r#"ok {"json":1}"#)),
        (r#"ok ${JSON:-{"json":1}}"#, D, Out(r#"ok {"json":2}"#)),
        (r#"ok ${JSON-{"json":1}}"#, D, Out(r#"ok {"json":2}"#)),
    ];

    #[test]
    fn substitution_table() {
        for (template, env, want) in CASES {
            check("table", template, env, want);
        }
    }

    /// The `cg-interp-*` cases of the conformance corpus: the template (a service
    /// `environment` value, or another field) with the case's variables, and the
    /// reference's result (its output's `$$` escaping undone) or error.
    #[rustfmt::skip]
    const CORPUS: &[(&str, &str, Env, Want)] = &[
        ("cg-interp-0049", "home1=$HOME", HOME, Out("home1=/home/foo")),
        ("cg-interp-0049", "home2=${HOME}", HOME, Out("home2=/home/foo")),
        ("cg-interp-0049", "nonexistent=$NONEXISTENT", HOME, Out("nonexistent=")),
        ("cg-interp-0049", "default=${NONEXISTENT-default}", HOME, Out("default=default")),
        ("cg-interp-0049", "$HOME", HOME, Out("/home/foo")),
        ("cg-interp-0050/0051", "$theint", CASTS, Out("555")),
        ("cg-interp-0050/0051", "${theint}", CASTS, Out("555")),
        ("cg-interp-0050/0051", "$thebool", CASTS, Out("true")),
        ("cg-interp-0050/0051", "${thebool}", CASTS, Out("true")),
        ("cg-interp-0050/0051", "$thefloat", CASTS, Out("3.14")),
        ("cg-interp-0050/0051", "${thesize}", CASTS, Out("2gb")),
        ("cg-interp-0050/0051", "${theduration}", CASTS, Out("60s")),
        ("cg-interp-0064", "${FOO_SCALE}", &[("FOO_SCALE", "2")], Out("2")),
        ("cg-interp-0117", "${COMPOSE_PROJECT_NAME}-db", &[("COMPOSE_PROJECT_NAME", "overrided")], Out("overrided-db")),
        ("cg-interp-0118", "${COMPOSE_PROJECT_NAME}-web", &[("COMPOSE_PROJECT_NAME", "another_name")], Out("another_name-web")),
        ("cg-interp-0413-escaped", "$${foo}", D, Out("${foo}")),
        ("cg-interp-0414-escaped", "${foo}", D, Out("")),
        ("cg-interp-0415-unescaped", "a $ string", D, Out("a $ string")),
        ("cg-interp-0416-unescaped", "^REGEX$", D, Out("^REGEX$")),
        ("cg-interp-0417-unescaped", "$}", D, Out("$}")),
        ("cg-interp-0418-unescaped", "$", D, Out("$")),
        ("cg-interp-0419-invalid", "${", D, Invalid("${")),
        ("cg-interp-0420-invalid", "${}", D, Invalid("${}")),
        ("cg-interp-0421-invalid", "${ }", D, Invalid("${ }")),
        ("cg-interp-0422-invalid", "${ foo}", D, Invalid("${ foo}")),
        ("cg-interp-0423-invalid", "${foo }", D, Invalid("${foo }")),
        ("cg-interp-0424-invalid", "${foo!}", D, Invalid("${foo!}")),
        ("cg-interp-0425-non-braced", "$FOO-bar", D, Out("first-bar")),
        ("cg-interp-0426-no-value-no-default", "This ${missing} var", D, Out("This  var")),
        ("cg-interp-0428-value-no-default", "This $FOO var", D, Out("This first var")),
        ("cg-interp-0430-no-value-with-default", "ok ${missing:-def}", D, Out("ok def")),
        ("cg-interp-0433-value-with-soft-default", "ok ${FOO:-def}", D, Out("ok first")),
        ("cg-interp-0434-empty-value-with-hard-default", "ok ${BAR-def}", D, Out("ok ")),
        ("cg-interp-0437-present-value-with-non-empty", "ok ${FOO:+presence_value}", D, Out("ok presence_value")),
        ("cg-interp-0441-non-alphanumeric-default", "ok ${BAR:-/non:-alphanumeric}", D, Out("ok /non:-alphanumeric")),
        ("cg-interp-0442-interpolation-external-interference", "-ok ${BAR:-defaultValue}", D, Out("-ok defaultValue")),
        ("cg-interp-0443-interpolation-external-interference", "+ok ${UNSET:-${BAR-defaultValue}}", D, Out("+ok ")),
        ("cg-interp-0444-interpolation-external-interference", "-ok ${FOO:-defaultValue}", D, Out("-ok first")),
        ("cg-interp-0445-interpolation-external-interference", ":-ok ${UNSET-defaultValue}", D, Out(":-ok defaultValue")),
        ("cg-interp-0446-interpolation-external-interference", ":-ok ${BAR-defaultValue}", D, Out(":-ok ")),
        ("cg-interp-0447-interpolation-external-interference", ":?ok ${BAR-defaultValue}", D, Out(":?ok ")),
        ("cg-interp-0448-interpolation-external-interference", ":?ok ${BAR:-defaultValue}", D, Out(":?ok defaultValue")),
        ("cg-interp-0449-interpolation-external-interference", ":+ok ${BAR:-defaultValue}", D, Out(":+ok defaultValue")),
        ("cg-interp-0451-interpolation-external-interference", "?ok ${BAR:-defaultValue}", D, Out("?ok defaultValue")),
        ("cg-interp-0454-defaults-with-nested-expansion", "ok ${UNSET_VAR-${FOO} ${FOO}}", D, Out("ok first first")),
        ("cg-interp-0459-defaults-with-nested-expansion", "ok ${BAR+$FOO ${FOO:+second}}", D, Out("ok first second")),
        ("cg-interp-0460-mandatory-variable-errors", "not ok ${UNSET_VAR:?Mandatory Variable Unset}", D, Required("UNSET_VAR", "Mandatory Variable Unset")),
        ("cg-interp-0461-mandatory-variable-errors", "not ok ${BAR:?Mandatory Variable Empty}", D, Required("BAR", "Mandatory Variable Empty")),
        ("cg-interp-0462-mandatory-variable-errors", "not ok ${UNSET_VAR:?}", D, Required("UNSET_VAR", "")),
        ("cg-interp-0463-mandatory-variable-errors", "not ok ${UNSET_VAR?Mandatory Variable Unset}", D, Required("UNSET_VAR", "Mandatory Variable Unset")),
        ("cg-interp-0464-mandatory-variable-errors", "not ok ${UNSET_VAR?}", D, Required("UNSET_VAR", "")),
        ("cg-interp-0465-mandatory-variable-errors-with-neste", "not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}", D, Required("UNSET_VAR", "Mandatory Variable first")),
        ("cg-interp-0466-mandatory-variable-errors-with-neste", "not ok ${UNSET_VAR?Mandatory Variable ${FOO}}", D, Required("UNSET_VAR", "Mandatory Variable first")),
        ("cg-interp-0475-substitute-with-replacement-func", "ok ${SUBDOMAIN:-redis}.${FOO:?}", D, Out("ok redis.first")),
        ("cg-interp-0476-precedence", "${UNSET_VAR?bar-baz}", D, Required("UNSET_VAR", "bar-baz")),
        ("cg-interp-0477-precedence", "${UNSET_VAR-myerror?msg}", D, Out("myerror?msg")),
        ("cg-interp-0478-precedence", "${FOO?bar-baz}", D, Out("first")),
        ("cg-interp-0479-precedence", "${BAR:-default_value_for_empty_var}", D, Out("default_value_for_empty_var")),
        ("cg-interp-0480-precedence", "${UNSET_VAR-default_value_for_unset_var}", D, Out("default_value_for_unset_var")),
        ("cg-interp-0481-no-value-with-curly-braces-default", "ok ${missing:-{\"json\":1}}", D, Out("ok {\"json\":1}")),
        ("cg-interp-0483-value-with-curly-braces-default", "ok ${JSON:-{\"json\":1}}", D, Out("ok {\"json\":2}")),
        // cg-dotenv cases whose compose file interpolates
        ("cg-dotenv-0627", "${OPTION_A-<unset>}", &[], Out("<unset>")),
        ("cg-dotenv-0627", "${OPTION_F-<unset>}", &[("OPTION_F", "")], Out("")),
        ("cg-dotenv-0631", "${VAR.WITH.DOTS-<unset>}", &[], Invalid("${VAR.WITH.DOTS-<unset>}")),
    ];
    const HOME: Env = &[("FOO", "foo"), ("HOME", "/home/foo")];
    const CASTS: Env = &[
        ("thebool", "true"),
        ("theduration", "60s"),
        ("thefloat", "3.14"),
        ("theint", "555"),
        ("thesize", "2gb"),
    ];

    #[test]
    fn corpus_cases() {
        for (label, template, env, want) in CORPUS {
            check(label, template, env, want);
        }
    }

    #[test]
    fn error_messages() {
        let e = run("${X:?}", &[]).expect_err("required");
        assert_eq!(e.to_string(), "required variable X is missing a value");
        let e = run("${X:?gone}", &[]).expect_err("required");
        assert_eq!(
            e.to_string(),
            "required variable X is missing a value: gone"
        );
        let e = run("${ }", &[]).expect_err("invalid");
        assert_eq!(e.to_string(), r#"invalid template: "${ }""#);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let t = format!("{}x{}", "${A:-".repeat(5000), "}".repeat(5000));
        assert!(run(&t, &[]).is_err());
        let _ = variables(&t);
        let t = format!("{}x{}", "${A:-".repeat(50), "}".repeat(50));
        assert_eq!(run(&t, &[]), Ok("x".to_owned()));
        // many expressions one after the other are fine
        let t = "${A:-a}".repeat(10_000);
        assert_eq!(run(&t, &[]), Ok("a".repeat(10_000)));
    }

    fn var(name: &str, has_default: bool, required: bool) -> VariableRef {
        VariableRef {
            name: name.to_owned(),
            has_default,
            required,
        }
    }

    #[test]
    fn variables_table() {
        #[rustfmt::skip]
        let cases: &[(&str, Vec<VariableRef>)] = &[
            ("no variables", vec![]),
            ("$$FOO $$ ${", vec![]),
            ("$FOO ${BAR}", vec![var("FOO", false, false), var("BAR", false, false)]),
            ("${A:-$B}", vec![var("A", true, false), var("B", false, false)]),
            ("${A-${B:+x}}", vec![var("A", true, false), var("B", true, false)]),
            ("${A:?need $B}", vec![var("A", false, true), var("B", false, false)]),
            ("${A?}", vec![var("A", false, true)]),
            ("${A:-x}${B}", vec![var("A", true, false), var("B", false, false)]),
            ("x ${A:-x} $C ${B:+y}", vec![var("A", true, false), var("C", false, false), var("B", true, false)]),
        ];
        for (template, want) in cases {
            assert_eq!(&variables(template), want, "template {template:?}");
        }
    }

    /// Random strings over `alphabet` (deterministic xorshift, no dependency).
    fn random_strings(alphabet: &[&str], count: usize, max_len: u64) -> Vec<String> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = next() % (max_len + 1);
                (0..len)
                    .map(|_| alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn never_panics() {
        let alphabet = [
            "$", "{", "}", ":", "?", "+", "-", "FOO", "BAR", "a", "1", "_", "\n", " ", "é",
            "\u{212A}", "!", "${", "$$", "\"",
        ];
        for s in random_strings(&alphabet, 50_000, 24) {
            let _ = run(&s, D);
            let _ = variables(&s);
        }
    }

    #[test]
    fn text_without_dollar_is_unchanged() {
        let alphabet = ["{", "}", ":-", "?", "FOO", " ", "\n", "é", "\\"];
        for s in random_strings(&alphabet, 5_000, 30) {
            assert_eq!(run(&s, D), Ok(s.clone()));
        }
    }
}
