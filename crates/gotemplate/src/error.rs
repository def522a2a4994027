//! Errors raised while parsing or executing a template, formatted as Go's `text/template` does.

/// A parse or execution error, displayed like Go's `text/template` errors
/// (`template: NAME:LINE: msg` for parse errors,
/// `template: NAME:LINE:COL: executing "NAME" at <CTX>: msg` for execution errors).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{rendered}")]
pub struct TemplateError {
    /// Whether the error was raised while parsing (true) or executing (false).
    pub parse: bool,
    /// The error without the location prefix.
    pub message: String,
    rendered: String,
}

/// Line (1-based) and column (0-based byte offset in the line) of `pos` in `src`.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src[..pos];
    let line = 1 + before.matches('\n').count();
    let col = match before.rfind('\n') {
        Some(i) => pos - i - 1,
        None => pos,
    };
    (line, col)
}

impl TemplateError {
    /// A parse error at byte offset `pos`.
    pub(crate) fn parse(name: &str, src: &str, pos: usize, msg: impl Into<String>) -> Self {
        let message = msg.into();
        let (line, _) = line_col(src, pos);
        let rendered = format!("template: {name}:{line}: {message}");
        TemplateError {
            parse: true,
            message,
            rendered,
        }
    }

    /// An execution error at byte offset `pos`, while evaluating the node written as `context`.
    pub(crate) fn exec(
        name: &str,
        src: &str,
        pos: usize,
        context: &str,
        msg: impl Into<String>,
    ) -> Self {
        let message = msg.into();
        let (line, col) = line_col(src, pos);
        let rendered = format!(
            "template: {name}:{line}:{col}: executing \"{name}\" at <{context}>: {message}"
        );
        TemplateError {
            parse: false,
            message,
            rendered,
        }
    }
}
