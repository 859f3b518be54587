//! Shell-like word splitting for string `command` / `entrypoint` values.
//!
//! Behaves like go-shellwords' default parser (no environment expansion, no
//! backtick execution), which compose-go uses: whitespace separates words,
//! single quotes are literal, a backslash escapes the next character outside
//! single quotes (`\t` and `\n` become tab and newline), and an unquoted
//! `;`, `&`, `|`, `<` or `>` ends the parse (the rest is dropped).

/// Splits a command line into words. Errors on unbalanced quotes, a trailing
/// backslash, or a bare `(`.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    #[derive(PartialEq)]
    enum Got {
        No,
        Single,
        Quoted,
    }
    let invalid = || "invalid command line string".to_owned();
    let mut args = Vec::new();
    let mut buf = String::new();
    let (mut escaped, mut double_q, mut single_q, mut back_q, mut dollar_q) =
        (false, false, false, false, false);
    let mut got = Got::No;

    for r in line.chars() {
        if escaped {
            let r = match r {
                't' => '\t',
                'n' => '\n',
                other => other,
            };
            buf.push(r);
            escaped = false;
            got = Got::Single;
            continue;
        }
        if r == '\\' {
            if single_q {
                buf.push(r);
            } else {
                escaped = true;
            }
            continue;
        }
        if matches!(r, ' ' | '\t' | '\r' | '\n') {
            if single_q || double_q || back_q || dollar_q {
                buf.push(r);
            } else if got != Got::No {
                args.push(std::mem::take(&mut buf));
                got = Got::No;
            }
            continue;
        }
        match r {
            '`' if !single_q && !double_q && !dollar_q => back_q = !back_q,
            ')' if !single_q && !double_q && !back_q => dollar_q = !dollar_q,
            '(' if !single_q && !double_q && !back_q => {
                if !dollar_q && buf.ends_with('$') {
                    dollar_q = true;
                    buf.push('(');
                    continue;
                }
                return Err(invalid());
            }
            '"' if !single_q && !dollar_q => {
                if double_q {
                    got = Got::Quoted;
                }
                double_q = !double_q;
                continue;
            }
            '\'' if !double_q && !dollar_q => {
                if single_q {
                    got = Got::Quoted;
                }
                single_q = !single_q;
                continue;
            }
            ';' | '&' | '|' | '<' | '>' if !(single_q || double_q || back_q || dollar_q) => {
                // `2>file`: a leading digit belongs to the redirection
                if r == '>' && buf.as_bytes().first().is_some_and(u8::is_ascii_digit) {
                    got = Got::No;
                }
                break;
            }
            _ => {}
        }
        got = Got::Single;
        buf.push(r);
    }

    if got != Got::No {
        args.push(buf);
    }
    if escaped || single_q || double_q || back_q || dollar_q {
        return Err(invalid());
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::split;

    fn ok(s: &str) -> Vec<String> {
        split(s).unwrap_or_else(|e| vec![format!("error: {e}")])
    }

    #[test]
    fn splits_words_and_quotes() {
        assert_eq!(ok("echo hello world"), ["echo", "hello", "world"]);
        assert_eq!(ok("  a   b  "), ["a", "b"]);
        assert_eq!(
            ok(r#"sh -c "echo 'hi there'""#),
            ["sh", "-c", "echo 'hi there'"]
        );
        assert_eq!(ok(r#"a "" b"#), ["a", "", "b"]);
        assert_eq!(ok("'a b'c"), ["a bc"]);
        assert_eq!(ok(r#"a\ b"#), ["a b"]);
        assert_eq!(ok(r#""a\"b""#), ["a\"b"]);
        assert_eq!(ok(r#"'a\b'"#), ["a\\b"]);
        assert_eq!(ok(r#"x\ty"#), ["x\ty"]);
        assert_eq!(ok("echo $HOME"), ["echo", "$HOME"]);
        assert_eq!(ok("echo $(date)"), ["echo", "$(date)"]);
        assert_eq!(ok("echo `date`"), ["echo", "`date`"]);
        assert_eq!(ok(""), Vec::<String>::new());
    }

    #[test]
    fn stops_at_shell_operators() {
        assert_eq!(ok("echo a && echo b"), ["echo", "a"]);
        assert_eq!(ok("echo a; b"), ["echo", "a"]);
        assert_eq!(ok("echo 'a;b'"), ["echo", "a;b"]);
        assert_eq!(ok("cmd 2>/dev/null"), ["cmd"]);
        assert_eq!(ok("cmd x>/dev/null"), ["cmd", "x"]);
    }

    #[test]
    fn rejects_unbalanced_input() {
        assert!(split("echo 'a").is_err());
        assert!(split("echo \"a").is_err());
        assert!(split("echo a\\").is_err());
        assert!(split("echo (a)").is_err());
    }
}
