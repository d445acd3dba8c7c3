//! From the parsed tree to the typed tree the evaluator runs: names become column slots, types
//! are checked (numbers, true/false, text), and what the screen reads is collected.

use std::collections::BTreeMap;

use technic_core::Indicator;

use crate::eval::{Cond, CrossFn, Num, Text};
use crate::names::{self, Column, NameError, SeriesColumn, TextField};
use crate::syntax::{self, CmpOp, Expr, ExprKind};
use crate::{ErrorKind, MAX_BARS_BACK, MAX_LENGTH, ScreenError};

/// Which expression of a screen an error is in: the field (CLI flag, JSON field) to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Where,
    RankBy,
    /// The saved screen a request names (`screen`, `--screen`); the error's column is 1.
    Screen,
}

impl Part {
    pub fn field(self) -> &'static str {
        match self {
            Part::Where => "where",
            Part::RankBy => "rank_by",
            Part::Screen => "screen",
        }
    }
}

/// A saved screen's texts, as `screen('name')` and a request's `screen` read them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedText {
    #[serde(rename = "where")]
    pub filter: Option<String>,
    pub rank_by: Option<String>,
}

/// Deepest chain of screens referring to screens (`screen('a')` whose `a` refers to `b`, …):
/// each level is a further tree the evaluator recurses into.
pub const MAX_CHAIN: usize = 8;

/// What a screen is checked against besides its own text.
#[derive(Debug, Clone, Default)]
pub struct ScreenOptions {
    /// Sector names `sector` may be compared with (canonical spelling); empty accepts any text.
    pub sectors: Vec<String>,
    /// Saved screens by name: what `screen('name')` refers to, resolved when compiling.
    pub saved: BTreeMap<String, SavedText>,
}

const SIGNALS: [&str; 5] = ["STRONG_BUY", "BUY", "HOLD", "SELL", "STRONG_SELL"];

/// A compiled screen: an optional filter and an optional ranking, over one set of column slots.
#[derive(Debug, Clone)]
pub struct Screen {
    pub(crate) filter: Option<Cond>,
    pub(crate) rank: Option<Num>,
    /// The series each slot holds.
    pub(crate) series: Vec<SeriesColumn>,
    /// Bars of each series kept: the newest and `history - 1` before it.
    pub(crate) history: usize,
    /// The inner value of each cross-sectional call, evaluated per symbol, then ranked.
    pub(crate) cross: Vec<(CrossFn, Num)>,
    indicators: Vec<Indicator>,
    reads_rating: bool,
    /// Saved screens it refers to, directly or through another, in the order first met.
    screens: Vec<String>,
}

/// What a typed node needs, for the checks of its parents.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    /// Only series and constants: it can be read at an earlier bar.
    per_bar: bool,
    /// Bars before the newest it reads.
    back: usize,
    cross: bool,
}

impl Meta {
    fn join(self, other: Meta) -> Meta {
        Meta {
            per_bar: self.per_bar && other.per_bar,
            back: self.back.max(other.back),
            cross: self.cross || other.cross,
        }
    }
}

enum Typed {
    Num(Num),
    Cond(Cond),
    Text(Text),
}

impl Typed {
    fn kind(&self) -> &'static str {
        match self {
            Typed::Num(_) => "a number",
            Typed::Cond(_) => "true/false",
            Typed::Text(_) => "text",
        }
    }
}

impl Screen {
    /// Compiles a screen's filter (`where`, true/false) and ranking (`rank_by`, a number: higher
    /// ranks first, so `-x` ranks the lowest first). An error names the part it is in.
    pub fn compile(
        filter: Option<&str>,
        rank_by: Option<&str>,
        options: &ScreenOptions,
    ) -> Result<Screen, (Part, ScreenError)> {
        Self::compile_on(None, filter, rank_by, options)
    }

    /// Compiles a screen narrowing the saved screen `base`: a symbol matches when both `base`'s
    /// filter and `filter` are true, and `rank_by` replaces `base`'s ranking when given.
    pub fn compile_on(
        base: Option<&str>,
        filter: Option<&str>,
        rank_by: Option<&str>,
        options: &ScreenOptions,
    ) -> Result<Screen, (Part, ScreenError)> {
        let mut compiler = Compiler {
            source: "",
            options,
            series: Vec::new(),
            cross: Vec::new(),
            reads_rating: false,
            chain: Vec::new(),
            screens: Vec::new(),
        };
        let mut history = 1;
        let mut conds = Vec::new();
        let mut rank_text = rank_by.map(|text| (text, Part::RankBy));
        if let Some(name) = base {
            let (cond, saved_rank) = compiler.saved_base(name)?;
            if let Some((cond, meta)) = cond {
                history = history.max(meta.back + 1);
                conds.push(cond);
            }
            if rank_text.is_none() {
                rank_text = saved_rank.map(|text| (text, Part::Screen));
            }
        }
        if let Some(text) = filter {
            let (cond, meta) = compiler.filter(text).map_err(|e| (Part::Where, e))?;
            history = history.max(meta.back + 1);
            conds.push(cond);
        }
        let filter = conds
            .into_iter()
            .reduce(|base, own| Cond::And(Box::new(base), Box::new(own)));
        let rank = match rank_text {
            None => None,
            Some((text, part)) => {
                let (num, meta) = compiler.ranking(text).map_err(|mut e| {
                    if part == Part::Screen {
                        e.message = format!(
                            "the ranking of saved screen '{}' does not compile: column {}: {}",
                            base.unwrap_or_default(),
                            e.column,
                            e.message
                        );
                        e.column = 1;
                    }
                    (part, e)
                })?;
                history = history.max(meta.back + 1);
                Some(num)
            }
        };
        let indicators = compiler.indicators_needed();
        Ok(Screen {
            filter,
            rank,
            series: compiler.series,
            history,
            cross: compiler.cross,
            indicators,
            reads_rating: compiler.reads_rating,
            screens: compiler.screens,
        })
    }

    /// The saved screens it refers to (`screen('name')`, a request's `screen`), directly or
    /// through another: what a copy of it compiled elsewhere needs.
    pub fn screens(&self) -> &[String] {
        &self.screens
    }

    /// The indicators the screen reads: what a scan must compute for it.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// Bars of each series the screen reads, the newest included.
    pub fn history(&self) -> usize {
        self.history
    }

    pub fn has_filter(&self) -> bool {
        self.filter.is_some()
    }

    pub fn has_ranking(&self) -> bool {
        self.rank.is_some()
    }

    /// Whether it uses `pct_rank`, `sector_pct_rank` or `zscore`.
    pub fn uses_cross_section(&self) -> bool {
        !self.cross.is_empty()
    }

    /// Whether it reads a symbol's bars (any series: prices, volume, indicators, derived columns).
    pub fn reads_bars(&self) -> bool {
        !self.series.is_empty()
    }

    /// Whether it reads what the rating gives (`tech_rating`, `alpha_score`, the sub-scores,
    /// `signal`), which exists only once a symbol is rated; `sector` is known before.
    pub fn reads_rating(&self) -> bool {
        self.reads_rating
    }
}

struct Compiler<'a> {
    source: &'a str,
    options: &'a ScreenOptions,
    series: Vec<SeriesColumn>,
    cross: Vec<(CrossFn, Num)>,
    reads_rating: bool,
    /// The saved screens being expanded, outermost first: a name met again is a cycle.
    chain: Vec<String>,
    screens: Vec<String>,
}

type Checked = Result<(Typed, Meta), ScreenError>;

/// A saved screen narrowed: its compiled filter (if it has one) and its ranking's text.
type SavedBase<'a> = (Option<(Cond, Meta)>, Option<&'a str>);

impl<'a> Compiler<'a> {
    /// The saved screen `base` a screen narrows: its filter (none when it has none, though it is
    /// still a screen used) and its ranking's text. An error belongs to the `screen` part.
    fn saved_base(&mut self, name: &str) -> Result<SavedBase<'a>, (Part, ScreenError)> {
        let whole = |message: String| {
            (
                Part::Screen,
                ScreenError {
                    kind: ErrorKind::UnknownName,
                    column: 1,
                    message,
                },
            )
        };
        let options = self.options;
        let saved = options.saved.get(name).ok_or_else(|| {
            whole(format!(
                "no saved screen named '{name}'{}",
                self.nearest_screen(name)
            ))
        })?;
        let cond = if saved.filter.is_some() {
            let (cond, meta) = self.reference(name).map_err(|e| {
                let kind = e.kind;
                let (part, mut error) = whole(e.message);
                error.kind = kind;
                (part, error)
            })?;
            Some((cond, meta))
        } else {
            self.used(name);
            None
        };
        Ok((cond, saved.rank_by.as_deref()))
    }

    /// The indicators the columns read need computed, each once.
    fn indicators_needed(&self) -> Vec<Indicator> {
        let mut indicators: Vec<Indicator> = Vec::new();
        for series in &self.series {
            let needed = match series {
                SeriesColumn::Indicator(indicator, _) => Some(*indicator),
                SeriesColumn::AtrPct => Some(SeriesColumn::atr_pct()),
                _ => None,
            };
            if let Some(indicator) = needed
                && !indicators.contains(&indicator)
            {
                indicators.push(indicator);
            }
        }
        indicators
    }

    fn top(&mut self, text: &'a str) -> Result<(Typed, Meta, Expr), ScreenError> {
        let length = text.chars().count();
        if length > MAX_LENGTH {
            return Err(ScreenError::new(
                ErrorKind::TooLong,
                text,
                text.char_indices().nth(MAX_LENGTH).map_or(0, |(i, _)| i),
                format!("the expression is {length} characters long; the limit is {MAX_LENGTH}"),
            ));
        }
        if text.trim().is_empty() {
            return Err(ScreenError::new(
                ErrorKind::Syntax,
                text,
                0,
                "the expression is empty",
            ));
        }
        self.source = text;
        let expr = syntax::parse(text)?;
        let (typed, meta) = self.check(&expr)?;
        Ok((typed, meta, expr))
    }

    /// A filter's text, which must be true or false.
    fn filter(&mut self, text: &'a str) -> Result<(Cond, Meta), ScreenError> {
        let (typed, meta, expr) = self.top(text)?;
        match typed {
            Typed::Cond(cond) => Ok((cond, meta)),
            other => {
                let written = text[expr.span.clone()].trim();
                let hint = if matches!(other, Typed::Text(_)) {
                    "== '…'"
                } else {
                    "> 0"
                };
                Err(ScreenError::new(
                    ErrorKind::Type,
                    text,
                    expr.span.start,
                    format!(
                        "a filter must be true or false, but `{written}` is {}; compare it, e.g. `{written} {hint}`",
                        other.kind()
                    ),
                ))
            }
        }
    }

    /// A ranking's text, which must be a number.
    fn ranking(&mut self, text: &'a str) -> Result<(Num, Meta), ScreenError> {
        let (typed, meta, expr) = self.top(text)?;
        match typed {
            Typed::Num(num) => Ok((num, meta)),
            other => Err(ScreenError::new(
                ErrorKind::Type,
                text,
                expr.span.start,
                format!(
                    "a ranking must be a number, but `{}` is {}",
                    text[expr.span.clone()].trim(),
                    other.kind()
                ),
            )),
        }
    }

    fn used(&mut self, name: &str) {
        if !self.screens.iter().any(|s| s == name) {
            self.screens.push(name.to_owned());
        }
    }

    /// `; did you mean 'x'?` for an unknown saved screen, or the names there are.
    fn nearest_screen(&self, name: &str) -> String {
        let known: Vec<&str> = self.options.saved.keys().map(String::as_str).collect();
        if known.is_empty() {
            return "; there are no saved screens".to_owned();
        }
        match names::nearest(name, &known) {
            Some(near) => format!("; did you mean '{near}'?"),
            None => format!("; saved screens are {}", known.join(", ")),
        }
    }

    /// The filter of the saved screen `name`, compiled into this screen's slots. An error is
    /// about the saved screen as a whole: the message says which one and where in its text.
    fn reference(&mut self, name: &str) -> Result<(Cond, Meta), ScreenError> {
        let whole = |kind, message: String| ScreenError {
            kind,
            column: 1,
            message,
        };
        if let Some(start) = self.chain.iter().position(|s| s == name) {
            let mut cycle = self.chain[start..].to_vec();
            cycle.push(name.to_owned());
            return Err(whole(
                ErrorKind::Cycle,
                format!(
                    "saved screens refer to each other in a cycle: {}",
                    cycle.join(" → ")
                ),
            ));
        }
        if self.chain.len() >= MAX_CHAIN {
            return Err(whole(
                ErrorKind::TooDeep,
                format!(
                    "saved screens refer to one another more than {MAX_CHAIN} deep: {} → {name}",
                    self.chain.join(" → ")
                ),
            ));
        }
        let options = self.options;
        let Some(saved) = options.saved.get(name) else {
            return Err(whole(
                ErrorKind::UnknownName,
                format!(
                    "no saved screen named '{name}'{}",
                    self.nearest_screen(name)
                ),
            ));
        };
        let Some(text) = saved.filter.as_deref() else {
            return Err(whole(
                ErrorKind::Type,
                format!("saved screen '{name}' has no `where` to refer to, only a ranking"),
            ));
        };
        self.used(name);
        self.chain.push(name.to_owned());
        let outer = self.source;
        let result = self.filter(text);
        self.source = outer;
        self.chain.pop();
        result.map_err(|e| match e.kind {
            // Already names every screen it is about.
            ErrorKind::Cycle | ErrorKind::TooDeep if e.message.starts_with("saved screens") => e,
            _ => whole(
                e.kind,
                format!(
                    "saved screen '{name}' does not compile: column {}: {}",
                    e.column, e.message
                ),
            ),
        })
    }

    fn error(&self, kind: ErrorKind, expr: &Expr, message: impl Into<String>) -> ScreenError {
        ScreenError::new(kind, self.source, expr.span.start, message)
    }

    fn text_of(&self, expr: &Expr) -> &'a str {
        self.source[expr.span.clone()].trim()
    }

    fn check(&mut self, expr: &Expr) -> Checked {
        let constant = Meta {
            per_bar: true,
            back: 0,
            cross: false,
        };
        match &expr.kind {
            ExprKind::Number(value) => Ok((Typed::Num(Num::Const(*value)), constant)),
            ExprKind::Text(text) => Ok((Typed::Text(Text::Const(text.clone())), constant)),
            ExprKind::Name(name) => self.name(expr, name),
            ExprKind::Neg(inner) => {
                let (num, meta) = self.number(inner, "`-`")?;
                Ok((Typed::Num(Num::Neg(Box::new(num))), meta))
            }
            ExprKind::Not(inner) => {
                let (cond, meta) = self.condition(inner, "`not`")?;
                Ok((Typed::Cond(Cond::Not(Box::new(cond))), meta))
            }
            ExprKind::Arith(op, left, right) => {
                let what = format!("`{}`", arith_symbol(*op));
                let (l, lm) = self.number(left, &what)?;
                let (r, rm) = self.number(right, &what)?;
                Ok((
                    Typed::Num(Num::Arith(*op, Box::new(l), Box::new(r))),
                    lm.join(rm),
                ))
            }
            ExprKind::And(left, right) | ExprKind::Or(left, right) => {
                let is_and = matches!(expr.kind, ExprKind::And(..));
                let what = if is_and { "`and`" } else { "`or`" };
                let (l, lm) = self.condition(left, what)?;
                let (r, rm) = self.condition(right, what)?;
                let cond = if is_and {
                    Cond::And(Box::new(l), Box::new(r))
                } else {
                    Cond::Or(Box::new(l), Box::new(r))
                };
                Ok((Typed::Cond(cond), lm.join(rm)))
            }
            ExprKind::Compare(op, left, right) => self.compare(*op, left, right),
            ExprKind::Between(value, low, high) => {
                let (v, vm) = self.number(value, "`between`")?;
                let (l, lm) = self.number(low, "`between`")?;
                let (h, hm) = self.number(high, "`between`")?;
                let meta = vm.join(lm).join(hm);
                Ok((Typed::Cond(undecided(Cond::Between(v, l, h), meta)), meta))
            }
            ExprKind::In {
                value,
                set,
                negated,
            } => self.membership(value, set, *negated),
            ExprKind::Past(value, bars) => {
                let (num, meta) = self.number(value, "`[n]`")?;
                let n = self.bars_literal(bars, "`[n]`", 0)?;
                self.per_bar(value, meta, &format!("`{}[{n}]`", self.text_of(value)))?;
                Ok((
                    Typed::Num(Num::Past(Box::new(num), n)),
                    Meta {
                        back: meta.back + n,
                        ..meta
                    },
                ))
            }
            ExprKind::Call(name, args) => self.call(expr, name, args),
        }
    }

    fn name(&mut self, expr: &Expr, name: &str) -> Checked {
        let per_bar = Meta {
            per_bar: true,
            back: 0,
            cross: false,
        };
        let newest_only = Meta {
            per_bar: false,
            back: 0,
            cross: false,
        };
        match names::resolve(name) {
            Ok(Column::Series(series)) => {
                let slot = match self.series.iter().position(|s| *s == series) {
                    Some(slot) => slot,
                    None => {
                        self.series.push(series);
                        self.series.len() - 1
                    }
                };
                Ok((Typed::Num(Num::Series(slot)), per_bar))
            }
            Ok(Column::Field(field)) => {
                self.reads_rating = true;
                Ok((Typed::Num(Num::Field(field)), newest_only))
            }
            Ok(Column::Text(field)) => {
                // The sector is the universe's, known before any rating.
                if field == TextField::Signal {
                    self.reads_rating = true;
                }
                Ok((Typed::Text(Text::Field(field)), newest_only))
            }
            Err(NameError::Unknown(suggestion)) => {
                let hint =
                    suggestion.map_or_else(String::new, |s| format!("; did you mean `{s}`?"));
                let call_hint = if names::FUNCTIONS.contains(&name) {
                    format!("; `{name}` is a function: call it with arguments in parentheses")
                } else {
                    hint
                };
                Err(self.error(
                    ErrorKind::UnknownName,
                    expr,
                    format!("unknown name `{name}`{call_hint}"),
                ))
            }
            Err(NameError::OutOfRange(message)) => {
                Err(self.error(ErrorKind::OutOfRange, expr, message))
            }
            Err(NameError::Ambiguous(columns)) => Err(self.error(
                ErrorKind::UnknownName,
                expr,
                format!(
                    "`{name}` has several outputs; name one of {}",
                    columns
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    fn number(&mut self, expr: &Expr, operator: &str) -> Result<(Num, Meta), ScreenError> {
        match self.check(expr)? {
            (Typed::Num(num), meta) => Ok((num, meta)),
            (other, _) => Err(self.error(
                ErrorKind::Type,
                expr,
                format!(
                    "{operator} needs a number, but `{}` is {}",
                    self.text_of(expr),
                    other.kind()
                ),
            )),
        }
    }

    fn condition(&mut self, expr: &Expr, operator: &str) -> Result<(Cond, Meta), ScreenError> {
        match self.check(expr)? {
            (Typed::Cond(cond), meta) => Ok((cond, meta)),
            (other, _) => Err(self.error(
                ErrorKind::Type,
                expr,
                format!(
                    "{operator} needs true/false, but `{}` is {}; compare it, e.g. `{} > 0`",
                    self.text_of(expr),
                    other.kind(),
                    self.text_of(expr)
                ),
            )),
        }
    }

    /// Refuses a value with no past (a result field, a cross-sectional function) where an
    /// earlier bar is read.
    fn per_bar(&self, expr: &Expr, meta: Meta, what: &str) -> Result<(), ScreenError> {
        if meta.per_bar {
            return Ok(());
        }
        Err(self.error(
            ErrorKind::Type,
            expr,
            format!(
                "{what} reads an earlier bar, but `{}` is known only for the newest bar (result fields and cross-sectional functions have no past values)",
                self.text_of(expr)
            ),
        ))
    }

    /// A whole number of bars written as a literal, from `min` to [`MAX_BARS_BACK`].
    fn bars_literal(&self, expr: &Expr, what: &str, min: u32) -> Result<usize, ScreenError> {
        let range = format!("a whole number of bars from {min} to {MAX_BARS_BACK}");
        match expr.kind {
            ExprKind::Number(n)
                if n.fract() == 0.0 && n >= f64::from(min) && n <= f64::from(MAX_BARS_BACK) =>
            {
                Ok(n as usize)
            }
            ExprKind::Number(n) => Err(self.error(
                ErrorKind::OutOfRange,
                expr,
                format!("{what} needs {range}, got {n}"),
            )),
            _ => Err(self.error(
                ErrorKind::Type,
                expr,
                format!(
                    "{what} needs {range} written as a number, but got `{}`",
                    self.text_of(expr)
                ),
            )),
        }
    }

    fn compare(&mut self, op: CmpOp, left: &Expr, right: &Expr) -> Checked {
        let what = format!("`{}`", op.symbol());
        let (l, lm) = self.check(left)?;
        let (r, rm) = self.check(right)?;
        let meta = lm.join(rm);
        match (l, r) {
            (Typed::Num(l), Typed::Num(r)) => {
                Ok((Typed::Cond(undecided(Cond::Compare(op, l, r), meta)), meta))
            }
            (Typed::Text(l), Typed::Text(r)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                let left_value = self.text_value(l.clone(), left, &r)?;
                let right_value = self.text_value(r, right, &l)?;
                Ok((
                    Typed::Cond(Cond::TextEq(left_value, right_value, op == CmpOp::Ne)),
                    meta,
                ))
            }
            (Typed::Text(_), Typed::Text(_)) => Err(self.error(
                ErrorKind::Type,
                left,
                format!(
                    "{what} does not compare text; text takes `==`, `!=` and `in (…)`, e.g. `sector == 'Energy'`"
                ),
            )),
            (l, r) => {
                // Name the operand that is not what the other one is.
                let (odd, odd_expr, other) = if matches!(l, Typed::Num(_)) {
                    (r.kind(), right, l.kind())
                } else {
                    (l.kind(), left, r.kind())
                };
                Err(self.error(
                    ErrorKind::Type,
                    odd_expr,
                    format!(
                        "{what} compares like with like, but `{}` is {odd} and the other side is {other}",
                        self.text_of(odd_expr)
                    ),
                ))
            }
        }
    }

    /// Checks a text constant compared with a text field against the field's known values
    /// (`sector == 'Energi'` is a typo, not an empty screen), and returns it canonically spelt.
    fn text_value(&self, text: Text, text_expr: &Expr, other: &Text) -> Result<Text, ScreenError> {
        let Text::Const(value) = &text else {
            return Ok(text);
        };
        let field = match other {
            Text::Field(field) => *field,
            Text::Const(_) => return Ok(text),
        };
        let known: Vec<&str> = match field {
            TextField::Sector => self.options.sectors.iter().map(String::as_str).collect(),
            TextField::Signal => SIGNALS.to_vec(),
        };
        if known.is_empty() {
            return Ok(text);
        }
        if let Some(canonical) = known.iter().find(|k| k.eq_ignore_ascii_case(value.trim())) {
            return Ok(Text::Const((*canonical).to_owned()));
        }
        let (what, hint) = match field {
            TextField::Sector => ("sector", names::nearest(value, &known)),
            TextField::Signal => ("signal", names::nearest(value, &known)),
        };
        let hint = hint.map_or_else(
            || format!("; expected one of {}", known.join(", ")),
            |h| format!("; did you mean '{h}'?"),
        );
        Err(self.error(
            ErrorKind::UnknownName,
            text_expr,
            format!("unknown {what} '{value}'{hint}"),
        ))
    }

    fn membership(&mut self, value: &Expr, set: &[Expr], negated: bool) -> Checked {
        let (typed, meta) = self.check(value)?;
        match typed {
            Typed::Num(num) => {
                let mut numbers = Vec::with_capacity(set.len());
                for item in set {
                    numbers.push(self.literal_number(item)?);
                }
                Ok((
                    Typed::Cond(undecided(Cond::NumIn(num, numbers, negated), meta)),
                    meta,
                ))
            }
            Typed::Text(text) => {
                let mut texts = Vec::with_capacity(set.len());
                for item in set {
                    match &item.kind {
                        ExprKind::Text(t) => {
                            match self.text_value(Text::Const(t.clone()), item, &text)? {
                                Text::Const(t) => texts.push(t),
                                Text::Field(_) => unreachable!("a constant stays a constant"),
                            }
                        }
                        _ => {
                            return Err(self.error(
                                ErrorKind::Type,
                                item,
                                format!(
                                    "`in` lists quoted text here, e.g. ('Energy', 'Utilities'), but got `{}`",
                                    self.text_of(item)
                                ),
                            ));
                        }
                    }
                }
                Ok((Typed::Cond(Cond::TextIn(text, texts, negated)), meta))
            }
            Typed::Cond(_) => Err(self.error(
                ErrorKind::Type,
                value,
                format!(
                    "`in` needs a number or text on its left, but `{}` is true/false",
                    self.text_of(value)
                ),
            )),
        }
    }

    fn literal_number(&self, item: &Expr) -> Result<f64, ScreenError> {
        match &item.kind {
            ExprKind::Number(n) => Ok(*n),
            ExprKind::Neg(inner) => match inner.kind {
                ExprKind::Number(n) => Ok(-n),
                _ => Err(self.not_literal(item)),
            },
            _ => Err(self.not_literal(item)),
        }
    }

    fn not_literal(&self, item: &Expr) -> ScreenError {
        self.error(
            ErrorKind::Type,
            item,
            format!(
                "`in` lists numbers here, e.g. (1, 2, 3), but got `{}`",
                self.text_of(item)
            ),
        )
    }

    // Long on purpose: one arm per function of the language, each with its own type rule.
    fn call(&mut self, expr: &Expr, name: &str, args: &[Expr]) -> Checked {
        if name == "screen" {
            return self.screen_call(expr, args);
        }
        let arity = match name {
            "crosses_above" | "crosses_below" | "rising" | "falling" | "highest" | "lowest" => 2,
            "pct_rank" | "sector_pct_rank" | "zscore" => 1,
            _ => {
                let hint = names::nearest(name, &names::FUNCTIONS).map_or_else(
                    || format!("; functions are {}", names::FUNCTIONS.join(", ")),
                    |f| format!("; did you mean `{f}`?"),
                );
                return Err(self.error(
                    ErrorKind::UnknownName,
                    expr,
                    format!("unknown function `{name}`{hint}"),
                ));
            }
        };
        if args.len() != arity {
            let shape = if arity == 2 {
                match name {
                    "crosses_above" | "crosses_below" => "(a, b)",
                    _ => "(x, n)",
                }
            } else {
                "(x)"
            };
            return Err(self.error(
                ErrorKind::Type,
                expr,
                format!(
                    "`{name}` takes {arity} argument{}, `{name}{shape}`, but got {}",
                    if arity == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        let what = format!("`{name}`");
        match name {
            "crosses_above" | "crosses_below" => {
                let (a, am) = self.number(&args[0], &what)?;
                let (b, bm) = self.number(&args[1], &what)?;
                self.per_bar(&args[0], am, &what)?;
                self.per_bar(&args[1], bm, &what)?;
                let meta = am.join(bm);
                let cond = if name == "crosses_above" {
                    Cond::CrossesAbove(a, b)
                } else {
                    Cond::CrossesBelow(a, b)
                };
                Ok((
                    Typed::Cond(cond),
                    Meta {
                        back: meta.back + 1,
                        ..meta
                    },
                ))
            }
            "rising" | "falling" | "highest" | "lowest" => {
                let (x, xm) = self.number(&args[0], &what)?;
                self.per_bar(&args[0], xm, &what)?;
                let n =
                    self.bars_literal(&args[1], &format!("the second argument of {what}"), 1)?;
                let (typed, back) = match name {
                    "rising" => (Typed::Cond(Cond::Rising(x, n)), n),
                    "falling" => (Typed::Cond(Cond::Falling(x, n)), n),
                    "highest" => (Typed::Num(Num::Highest(Box::new(x), n)), n - 1),
                    _ => (Typed::Num(Num::Lowest(Box::new(x), n)), n - 1),
                };
                Ok((
                    typed,
                    Meta {
                        back: xm.back + back,
                        ..xm
                    },
                ))
            }
            _ => {
                let (x, xm) = self.number(&args[0], &what)?;
                if xm.cross {
                    return Err(self.error(
                        ErrorKind::Type,
                        &args[0],
                        format!("{what} cannot contain another cross-sectional function"),
                    ));
                }
                let function = match name {
                    "pct_rank" => CrossFn::PctRank,
                    "sector_pct_rank" => CrossFn::SectorPctRank,
                    _ => CrossFn::ZScore,
                };
                self.cross.push((function, x));
                Ok((
                    Typed::Num(Num::Cross(self.cross.len() - 1)),
                    Meta {
                        per_bar: false,
                        back: xm.back,
                        cross: true,
                    },
                ))
            }
        }
    }
}

impl Compiler<'_> {
    /// `screen('name')`: the saved screen's filter, inlined. An error in it points at the call.
    fn screen_call(&mut self, expr: &Expr, args: &[Expr]) -> Checked {
        let name = match args {
            [
                Expr {
                    kind: ExprKind::Text(name),
                    ..
                },
            ] => name,
            _ => {
                return Err(self.error(
                    ErrorKind::Type,
                    expr,
                    "`screen` takes the name of a saved screen in quotes, e.g. `screen('uptrend')`",
                ));
            }
        };
        match self.reference(name) {
            Ok((cond, meta)) => Ok((Typed::Cond(cond), meta)),
            Err(e) => Err(self.error(e.kind, expr, e.message)),
        }
    }
}

/// Marks a comparison whose outcome the cross-section decides (see [`Screen::may_match`]).
fn undecided(cond: Cond, meta: Meta) -> Cond {
    if meta.cross {
        Cond::Undecided(Box::new(cond))
    } else {
        cond
    }
}

fn arith_symbol(op: syntax::BinOp) -> &'static str {
    match op {
        syntax::BinOp::Add => "+",
        syntax::BinOp::Sub => "-",
        syntax::BinOp::Mul => "*",
        syntax::BinOp::Div => "/",
    }
}
