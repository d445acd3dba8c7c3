//! The grammar, as winnow parsers over the expression text, producing a tree with byte spans.
//!
//! Precedence, loosest first: `or`, `and`, `not`, comparisons (`< <= > >= == = != <>`, `between
//! … and …`, `[not] in (…)`), `+ -`, `* /`, unary `-`, then past values `x[n]` and primaries
//! (numbers, quoted strings, names, calls, parentheses). Comparisons do not chain.
//!
//! Once an operator has been read its operand is required (`cut_err`), so an error points at the
//! place the user has to change, not at the start of the clause that could not be finished.

use std::cell::Cell;
use std::ops::Range;

use winnow::combinator::{
    alt, cut_err, delimited, eof, opt, peek, preceded, separated, terminated,
};
use winnow::error::{AddContext, ContextError, ErrMode, ModalResult, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Location, Stateful, Stream};
use winnow::token::{any, one_of, take_till, take_while};

use crate::{ErrorKind, MAX_DEPTH, ScreenError};

/// A parsed expression with the byte range of the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Text(String),
    Name(String),
    /// `x[n]`: the value `n` bars before the newest.
    Past(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Arith(BinOp, Box<Expr>, Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    In {
        value: Box<Expr>,
        set: Vec<Expr>,
        negated: bool,
    },
    Call(String, Vec<Expr>),
}

/// What the parsers carry besides the text: the nesting depth, and where it first went past the
/// limit (kept outside the error, which `alt` would otherwise replace with a vaguer one).
#[derive(Debug)]
struct Depth {
    current: Cell<usize>,
    exceeded_at: Cell<Option<usize>>,
}

type Input<'s> = Stateful<LocatingSlice<&'s str>, &'s Depth>;

const GENERIC_VALUE: &str = "a value (";

const KEYWORDS: [&str; 5] = ["and", "or", "not", "in", "between"];

/// Parses a whole expression; the caller has checked its length.
pub fn parse(source: &str) -> Result<Expr, ScreenError> {
    let depth = Depth {
        current: Cell::new(0),
        exceeded_at: Cell::new(None),
    };
    let input = Input {
        input: LocatingSlice::new(source),
        state: &depth,
    };
    let result = delimited(blank, or_expr, (blank, expect_end)).parse(input);
    if let Some(offset) = depth.exceeded_at.get() {
        return Err(ScreenError::new(
            ErrorKind::TooDeep,
            source,
            offset,
            format!(
                "the expression nests deeper than {MAX_DEPTH} levels (each parenthesis, call, `[n]`, `not`, unary minus and further operand of a chain such as `a and b and c` is a level)"
            ),
        ));
    }
    result.map_err(|e| {
        let offset = e.offset();
        let found = match source[offset..].chars().next() {
            None => "the end of the expression".to_owned(),
            Some(_) => format!("`{}`", token_at(&source[offset..])),
        };
        // Contexts come innermost first; the generic "a value" is the least telling of them.
        let expected: Vec<String> = e
            .inner()
            .context()
            .filter_map(|c| match c {
                StrContext::Expected(StrContextValue::Description(d)) => Some((*d).to_owned()),
                StrContext::Expected(StrContextValue::StringLiteral(s)) => Some(format!("`{s}`")),
                StrContext::Expected(StrContextValue::CharLiteral(c)) => Some(format!("`{c}`")),
                _ => None,
            })
            .collect();
        let expected = expected
            .iter()
            .find(|d| !d.starts_with(GENERIC_VALUE))
            .or(expected.first());
        let label = e.inner().context().find_map(|c| match c {
            StrContext::Label(l) => Some(*l),
            _ => None,
        });
        let message = match (label, expected) {
            (Some(label), _) => label.replace("{found}", &found),
            (None, Some(expected)) => format!("expected {expected}, found {found}"),
            (None, None) => format!("unexpected {found}"),
        };
        ScreenError::new(ErrorKind::Syntax, source, offset, message)
    })
}

/// The word or symbol at the start of `rest`, for messages.
fn token_at(rest: &str) -> &str {
    let first = rest.chars().next().map_or(0, char::len_utf8);
    let word_end = rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(rest.len(), |(i, _)| i);
    &rest[..word_end.max(first).min(rest.len().min(24).max(first))]
}

fn blank(input: &mut Input<'_>) -> ModalResult<()> {
    take_while(0.., char::is_whitespace)
        .void()
        .parse_next(input)
}

fn expect_end(input: &mut Input<'_>) -> ModalResult<()> {
    eof.void()
        .context(StrContext::Expected(StrContextValue::Description(
            "an operator or the end of the expression",
        )))
        .parse_next(input)
}

fn offset(input: &Input<'_>) -> usize {
    input.current_token_start()
}

/// Runs `inner` one level deeper, failing (and remembering where) past [`MAX_DEPTH`].
fn nested<'s, O>(
    input: &mut Input<'s>,
    inner: impl FnOnce(&mut Input<'s>) -> ModalResult<O>,
) -> ModalResult<O> {
    let depth = input.state;
    let level = depth.current.get() + 1;
    if level > MAX_DEPTH {
        if depth.exceeded_at.get().is_none() {
            depth.exceeded_at.set(Some(offset(input)));
        }
        return Err(ErrMode::Cut(ContextError::new()));
    }
    depth.current.set(level);
    let result = inner(input);
    depth.current.set(level - 1);
    result
}

/// One more operand of a chain (`a and b and c`, `a + b + c`, `x[1][2]`) makes the tree one
/// level deeper, and the compiler and evaluator recurse once per level, so it counts too.
fn deeper(input: &mut Input<'_>) -> ModalResult<()> {
    let depth = input.state;
    let level = depth.current.get() + 1;
    if level > MAX_DEPTH {
        if depth.exceeded_at.get().is_none() {
            depth.exceeded_at.set(Some(offset(input)));
        }
        return Err(ErrMode::Cut(ContextError::new()));
    }
    depth.current.set(level);
    Ok(())
}

/// Runs a chain's parser and puts the depth back to where it was, however it ends.
fn chain<'s>(
    input: &mut Input<'s>,
    parser: impl FnOnce(&mut Input<'s>) -> ModalResult<Expr>,
) -> ModalResult<Expr> {
    let base = input.state.current.get();
    let result = parser(input);
    input.state.current.set(base);
    result
}

fn spanned(kind: ExprKind, start: usize, input: &Input<'_>) -> Expr {
    Expr {
        kind,
        span: start..offset(input),
    }
}

/// A keyword, case-insensitively, not followed by more of a name.
fn keyword<'s>(word: &'static str) -> impl Parser<Input<'s>, (), ErrMode<ContextError>> {
    move |input: &mut Input<'s>| {
        let start = input.checkpoint();
        let found = name_text.parse_next(input)?;
        if found.eq_ignore_ascii_case(word) {
            Ok(())
        } else {
            input.reset(&start);
            Err(ErrMode::Backtrack(ContextError::new()))
        }
    }
}

fn operand(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn or_expr(input: &mut Input<'_>) -> ModalResult<Expr> {
    logical_level(
        input,
        "or",
        "a condition after `or`",
        and_expr,
        ExprKind::Or,
    )
}

fn and_expr(input: &mut Input<'_>) -> ModalResult<Expr> {
    logical_level(
        input,
        "and",
        "a condition after `and`",
        not_expr,
        ExprKind::And,
    )
}

/// One left-associative level of `and` or `or`: `next (word next)*`.
fn logical_level(
    input: &mut Input<'_>,
    word: &'static str,
    after: &'static str,
    next: fn(&mut Input<'_>) -> ModalResult<Expr>,
    join: fn(Box<Expr>, Box<Expr>) -> ExprKind,
) -> ModalResult<Expr> {
    chain(input, |input| {
        let start = offset(input);
        let mut left = next(input)?;
        while opt(preceded(blank, keyword(word)))
            .parse_next(input)?
            .is_some()
        {
            deeper(input)?;
            let right = cut_err(preceded(blank, next))
                .context(operand(after))
                .parse_next(input)?;
            left = spanned(join(Box::new(left), Box::new(right)), start, input);
        }
        Ok(left)
    })
}

fn not_expr(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = offset(input);
    if opt(alt((keyword("not"), '!'.void())))
        .parse_next(input)?
        .is_some()
    {
        let inner = nested(input, |input| {
            cut_err(preceded(blank, not_expr))
                .context(operand("a condition after `not`"))
                .parse_next(input)
        })?;
        return Ok(spanned(ExprKind::Not(Box::new(inner)), start, input));
    }
    comparison.parse_next(input)
}

fn cmp_op(input: &mut Input<'_>) -> ModalResult<CmpOp> {
    alt((
        "<=".value(CmpOp::Le),
        ">=".value(CmpOp::Ge),
        "==".value(CmpOp::Eq),
        "!=".value(CmpOp::Ne),
        "<>".value(CmpOp::Ne),
        "<".value(CmpOp::Lt),
        ">".value(CmpOp::Gt),
        "=".value(CmpOp::Eq),
    ))
    .parse_next(input)
}

fn comparison(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = offset(input);
    let left = additive.parse_next(input)?;
    let checkpoint = input.checkpoint();
    blank.parse_next(input)?;
    if let Some(op) = opt(cmp_op).parse_next(input)? {
        let right = cut_err(preceded(blank, additive))
            .context(operand("a value to compare with"))
            .parse_next(input)?;
        let expr = spanned(
            ExprKind::Compare(op, Box::new(left), Box::new(right)),
            start,
            input,
        );
        // `a < b < c` reads as a range to people and as nonsense to the types: say so here.
        let after = input.checkpoint();
        blank.parse_next(input)?;
        if opt(cmp_op).parse_next(input)?.is_some() {
            input.reset(&after);
            blank.parse_next(input)?;
            return Err(ErrMode::Cut(ContextError::new().add_context(
                input,
                &input.checkpoint(),
                StrContext::Label(
                    "comparisons do not chain (write `a < b and b < c`, or `b between a and c`)",
                ),
            )));
        }
        input.reset(&after);
        return Ok(expr);
    }
    if keyword("between").parse_next(input).is_ok() {
        let low = cut_err(preceded(blank, additive))
            .context(operand("the lower bound after `between`"))
            .parse_next(input)?;
        cut_err(preceded(blank, keyword("and")))
            .context(StrContext::Expected(StrContextValue::StringLiteral("and")))
            .parse_next(input)?;
        let high = cut_err(preceded(blank, additive))
            .context(operand("the upper bound after `between … and`"))
            .parse_next(input)?;
        return Ok(spanned(
            ExprKind::Between(Box::new(left), Box::new(low), Box::new(high)),
            start,
            input,
        ));
    }
    let before_not = input.checkpoint();
    let negated = keyword("not").parse_next(input).is_ok();
    if negated {
        blank.parse_next(input)?;
    }
    if keyword("in").parse_next(input).is_ok() {
        let set = cut_err(preceded(
            (blank, '('),
            terminated(
                separated(1.., preceded(blank, additive), (blank, ',')),
                (blank, ')'),
            ),
        ))
        .context(operand(
            "a list in parentheses after `in`, e.g. ('Energy', 'Utilities')",
        ))
        .parse_next(input)?;
        return Ok(spanned(
            ExprKind::In {
                value: Box::new(left),
                set,
                negated,
            },
            start,
            input,
        ));
    }
    if negated {
        input.reset(&before_not);
    }
    input.reset(&checkpoint);
    Ok(left)
}

fn additive(input: &mut Input<'_>) -> ModalResult<Expr> {
    arithmetic_level(input, [('+', BinOp::Add), ('-', BinOp::Sub)], term)
}

fn term(input: &mut Input<'_>) -> ModalResult<Expr> {
    arithmetic_level(input, [('*', BinOp::Mul), ('/', BinOp::Div)], unary)
}

/// One left-associative level of arithmetic, `next (op next)*`, with `ops` its two operators.
fn arithmetic_level(
    input: &mut Input<'_>,
    ops: [(char, BinOp); 2],
    next: fn(&mut Input<'_>) -> ModalResult<Expr>,
) -> ModalResult<Expr> {
    chain(input, |input| {
        let start = offset(input);
        let mut left = next(input)?;
        loop {
            let checkpoint = input.checkpoint();
            blank.parse_next(input)?;
            let Some(symbol) = opt(one_of([ops[0].0, ops[1].0])).parse_next(input)? else {
                input.reset(&checkpoint);
                return Ok(left);
            };
            deeper(input)?;
            let right = cut_err(preceded(blank, next))
                .context(operand("a value after the operator"))
                .parse_next(input)?;
            let op = if symbol == ops[0].0 {
                ops[0].1
            } else {
                ops[1].1
            };
            left = spanned(
                ExprKind::Arith(op, Box::new(left), Box::new(right)),
                start,
                input,
            );
        }
    })
}

fn unary(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = offset(input);
    if opt('-').parse_next(input)?.is_some() {
        let inner = nested(input, |input| {
            cut_err(preceded(blank, unary))
                .context(operand("a value after `-`"))
                .parse_next(input)
        })?;
        return Ok(spanned(ExprKind::Neg(Box::new(inner)), start, input));
    }
    past.parse_next(input)
}

fn past(input: &mut Input<'_>) -> ModalResult<Expr> {
    chain(input, |input| {
        let start = offset(input);
        let mut value = primary.parse_next(input)?;
        loop {
            let checkpoint = input.checkpoint();
            blank.parse_next(input)?;
            if opt('[').parse_next(input)?.is_none() {
                input.reset(&checkpoint);
                return Ok(value);
            }
            deeper(input)?;
            let bars = nested(input, |input| {
                cut_err(terminated(preceded(blank, or_expr), (blank, ']')))
                    .context(operand("a number of bars and `]`, e.g. close[1]"))
                    .parse_next(input)
            })?;
            value = spanned(
                ExprKind::Past(Box::new(value), Box::new(bars)),
                start,
                input,
            );
        }
    })
}

fn primary(input: &mut Input<'_>) -> ModalResult<Expr> {
    alt((number, text, call_or_name, parenthesised))
        .context(operand(
            "a value (a number, a name, a 'string', a call or parentheses)",
        ))
        .parse_next(input)
}

fn parenthesised(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = offset(input);
    '('.parse_next(input)?;
    let inner = nested(input, |input| {
        cut_err(terminated(preceded(blank, or_expr), (blank, ')')))
            .context(StrContext::Expected(StrContextValue::CharLiteral(')')))
            .parse_next(input)
    })?;
    // The span covers the parentheses, so messages quote what the user wrote.
    Ok(Expr {
        kind: inner.kind,
        span: start..offset(input),
    })
}

fn number(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = offset(input);
    let at_start = input.checkpoint();
    peek(one_of(|c: char| c.is_ascii_digit() || c == '.')).parse_next(input)?;
    let digits = take_while(1.., |c: char| c.is_ascii_digit() || c == '.').parse_next(input)?;
    let exponent = opt((
        one_of(['e', 'E']),
        opt(one_of(['+', '-'])),
        take_while(1.., |c: char| c.is_ascii_digit()),
    ))
    .take()
    .parse_next(input)?;
    let text = format!("{digits}{exponent}");
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(spanned(ExprKind::Number(value), start, input)),
        _ => {
            input.reset(&at_start);
            Err(ErrMode::Cut(ContextError::new().add_context(
                input,
                &at_start,
                StrContext::Label(
                    "{found} is not a number (one decimal point at most, and within ±1.8e308)",
                ),
            )))
        }
    }
}

fn text(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = offset(input);
    let at_start = input.checkpoint();
    let quote = one_of(['\'', '"']).parse_next(input)?;
    let body = take_till(0.., quote).parse_next(input)?;
    if opt(any.verify(|c: &char| *c == quote))
        .parse_next(input)?
        .is_none()
    {
        input.reset(&at_start);
        return Err(ErrMode::Cut(ContextError::new().add_context(
            input,
            &at_start,
            StrContext::Label("this string is not closed: its closing quote is missing"),
        )));
    }
    Ok(spanned(ExprKind::Text(body.to_owned()), start, input))
}

/// A name: a letter or `_`, then letters, digits, `_` and `.` (for `bb_20_2.5_upper`).
fn name_text<'s>(input: &mut Input<'s>) -> ModalResult<&'s str> {
    (
        one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., |c: char| {
            c.is_ascii_alphanumeric() || c == '_' || c == '.'
        }),
    )
        .take()
        .parse_next(input)
}

fn call_or_name(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = offset(input);
    let checkpoint = input.checkpoint();
    let name = name_text.parse_next(input)?;
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
        input.reset(&checkpoint);
        return Err(ErrMode::Backtrack(ContextError::new()));
    }
    let name = name.to_ascii_lowercase();
    let before_paren = input.checkpoint();
    blank.parse_next(input)?;
    if opt('(').parse_next(input)?.is_none() {
        input.reset(&before_paren);
        return Ok(spanned(ExprKind::Name(name), start, input));
    }
    let args = nested(input, |input| {
        cut_err(terminated(
            separated(0.., preceded(blank, or_expr), (blank, ',')),
            (blank, ')'),
        ))
        .context(operand("arguments separated by `,` and a closing `)`"))
        .parse_next(input)
    })?;
    Ok(spanned(ExprKind::Call(name, args), start, input))
}
