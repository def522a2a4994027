//! Parse tree of a Go template.

/// A node of a template body.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// Literal text.
    Text(String),
    /// `{{pipeline}}`: evaluate and print (unless it declares variables).
    Action(Pipe),
    /// `{{if}}` / `{{with}}` / `{{range}}`.
    Branch(Branch),
    /// `{{break}}` inside a range.
    Break,
    /// `{{continue}}` inside a range.
    Continue,
    /// `{{template "name" pipeline}}`.
    Template {
        /// Source position.
        pos: usize,
        /// Name of the invoked template.
        name: String,
        /// Value of dot inside the invoked template.
        pipe: Option<Pipe>,
    },
}

/// Which control structure a branch is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BranchKind {
    /// `if`.
    If,
    /// `with`.
    With,
    /// `range`.
    Range,
}

/// An `if`, `with` or `range` with its bodies.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    /// Which structure.
    pub kind: BranchKind,
    /// The condition or range pipeline.
    pub pipe: Pipe,
    /// Body when the condition holds (or per element).
    pub body: Vec<Node>,
    /// `{{else}}` body.
    pub else_body: Option<Vec<Node>>,
}

/// A pipeline, optionally declaring or assigning variables.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    /// Source position.
    pub pos: usize,
    /// Variables declared (`:=`) or assigned (`=`).
    pub decl: Vec<String>,
    /// Whether `decl` is an assignment (`=`) rather than a declaration.
    pub is_assign: bool,
    /// Commands separated by `|`.
    pub cmds: Vec<Cmd>,
}

/// One command: an operand or a function call with arguments.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    /// First element is the function (or the sole operand); the rest are arguments.
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.`.
    Dot(usize),
    /// `.a.b`.
    Field(usize, Vec<String>),
    /// `$x.a.b`.
    Variable(usize, String, Vec<String>),
    /// A function name.
    Ident(usize, String),
    /// `(pipeline).a.b` (path may be empty).
    Chain(usize, Box<Pipe>, Vec<String>),
    /// String literal.
    Str(String),
    /// Integer literal.
    Int(i64),
    /// Float literal.
    Float(f64),
    /// `true`/`false`.
    Bool(bool),
    /// `nil`.
    Nil(usize),
}

impl Arg {
    /// How Go prints the node in an error context.
    pub(crate) fn describe(&self) -> String {
        // Parenthesised pipelines nest: as deep as the parser allows.
        crate::limits::grow(|| self.describe_nested())
    }

    fn describe_nested(&self) -> String {
        match self {
            Arg::Dot(_) => ".".to_string(),
            Arg::Field(_, p) => p.iter().map(|s| format!(".{s}")).collect(),
            Arg::Variable(_, n, p) => format!(
                "{n}{}",
                p.iter().map(|s| format!(".{s}")).collect::<String>()
            ),
            Arg::Ident(_, n) => n.clone(),
            Arg::Chain(_, pipe, p) => {
                format!(
                    "({}){}",
                    pipe.describe(),
                    p.iter().map(|s| format!(".{s}")).collect::<String>()
                )
            }
            Arg::Str(s) => format!("{s:?}"),
            Arg::Int(i) => i.to_string(),
            Arg::Float(f) => f.to_string(),
            Arg::Bool(b) => b.to_string(),
            Arg::Nil(_) => "nil".to_string(),
        }
    }

    /// Source position of the operand (0 for literals).
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Dot(p)
            | Arg::Field(p, _)
            | Arg::Variable(p, _, _)
            | Arg::Ident(p, _)
            | Arg::Chain(p, _, _) => *p,
            Arg::Nil(p) => *p,
            _ => 0,
        }
    }
}

impl Pipe {
    /// How Go prints the pipeline in an error context.
    pub(crate) fn describe(&self) -> String {
        let cmds: Vec<String> = self
            .cmds
            .iter()
            .map(|c| {
                c.args
                    .iter()
                    .map(Arg::describe)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let body = cmds.join(" | ");
        if self.decl.is_empty() {
            body
        } else {
            let op = if self.is_assign { "=" } else { ":=" };
            format!("{} {op} {body}", self.decl.join(", "))
        }
    }
}

/// A named template (`define`, `block`, or a whole file of a [`crate::TemplateSet`]) with the
/// file it was written in, so that errors inside it name that file and line.
#[derive(Debug)]
pub(crate) struct Define {
    /// The file (template) the definition was parsed from.
    pub file: std::sync::Arc<str>,
    /// That file's source text.
    pub src: std::sync::Arc<str>,
    /// The body.
    pub body: Vec<Node>,
}

// Dropping a deeply nested tree recurses as deep as it nests: move to a new stack segment
// when the thread's stack runs low.
impl Drop for Branch {
    fn drop(&mut self) {
        let body = std::mem::take(&mut self.body);
        let else_body = self.else_body.take();
        crate::limits::grow(move || drop((body, else_body)));
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let cmds = std::mem::take(&mut self.cmds);
        crate::limits::grow(move || drop(cmds));
    }
}
