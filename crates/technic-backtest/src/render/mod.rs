//! The three text forms of a `Report`: the terminal table, CSV and a self-contained HTML page.

mod csv;
mod format;
mod html;
mod table;

pub use self::csv::{render_csv, render_panel_csv};
pub use html::render_html;
pub use table::render_table;
