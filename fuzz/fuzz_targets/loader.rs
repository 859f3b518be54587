//! Feeds arbitrary bytes to the whole loader as a compose file (and as an env file): it must
//! return a model or an error, never panic or hang; and every error it returns is rendered as
//! the CLI renders it (a located excerpt), which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_compose::loader::Files;

struct Memory<'a> {
    compose: &'a str,
    env: &'a str,
}

impl Files for Memory<'_> {
    fn read(&self, path: &str) -> std::io::Result<String> {
        match path {
            "/p/compose.yaml" => Ok(self.compose.to_owned()),
            "/p/.env" => Ok(self.env.to_owned()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    }
    fn is_dir(&self, path: &str) -> bool {
        path == "/p"
    }
    fn is_file(&self, path: &str) -> bool {
        path == "/p/compose.yaml" || path == "/p/.env"
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (compose, env) = text.split_once("\n---env---\n").unwrap_or((text, ""));
    let files = Memory { compose, env };
    let req = skiff_compose::Request::new("/p".to_owned(), indexmap::IndexMap::new());
    if let Err((error, sources)) = skiff_compose::load(&req, &files) {
        let report = skiff_compose::diagnostic::report(error, &sources);
        let mut out = String::new();
        let _ = miette::GraphicalReportHandler::new().render_report(&mut out, report.as_ref());
    }
});
