//! The live web page (`GET /`): one HTML file, its ES modules and style sheets, built into the
//! binary so the page works wherever the server runs, with no network beyond the server itself and
//! no build step (`assets/` is plain HTML, CSS and JavaScript; the chart library `detail.js`
//! imports is vendored in `assets/vendor/`; `assets/package.json` only tells Node and tsc that the
//! scripts are modules, and is not served).
//!
//! Every response carries an `ETag` (a hash of the asset, computed at compile time) and
//! `Cache-Control: no-cache`: browsers keep the files but check them on each load, so a new binary's
//! page is never mixed with an old cached script, and an unchanged one costs a 304.
//!
//! A content-security policy says the page makes no request beyond its own origin. The scripts
//! start a scan with `POST /scan/start`, follow `/ws/results/{id}` (or poll `/scan/results` when
//! streaming is off), keep results in a model keyed by symbol with the last `seq` applied, ignore
//! anything at or below it, and after a drop reconnect with `from_seq` = that `seq`; the table is
//! drawn from the model, so sorting and filtering never lose or repeat a row.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

#[derive(Debug)]
struct Asset {
    body: &'static str,
    content_type: &'static str,
    /// FNV-1a of `body`: cheap, and only has to change when the file does.
    tag: u64,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str) -> Self {
        Self {
            body,
            content_type,
            tag: fnv1a(body.as_bytes()),
        }
    }
}

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

static INDEX: Asset = Asset::new(
    include_str!("../assets/index.html"),
    "text/html; charset=utf-8",
);
static STYLE: Asset = Asset::new(include_str!("../assets/app.css"), "text/css; charset=utf-8");
static DETAIL: Asset = Asset::new(
    include_str!("../assets/detail.js"),
    "text/javascript; charset=utf-8",
);
static BACKTEST: Asset = Asset::new(
    include_str!("../assets/backtest.js"),
    "text/javascript; charset=utf-8",
);
static EXPRESSION: Asset = Asset::new(
    include_str!("../assets/expression.js"),
    "text/javascript; charset=utf-8",
);
static PANELS_STYLE: Asset = Asset::new(
    include_str!("../assets/panels.css"),
    "text/css; charset=utf-8",
);
/// TradingView's lightweight-charts, the npm package's standalone ES module as published
/// (assets/vendor/NOTICE): served from here, so the page needs no other host.
static CHARTS: Asset = Asset::new(
    include_str!("../assets/vendor/lightweight-charts.standalone.production.mjs"),
    "text/javascript; charset=utf-8",
);

const fn module(body: &'static str) -> Asset {
    Asset::new(body, "text/javascript; charset=utf-8")
}

// The live table's modules: `app.js` is the entry point, which imports the rest by relative path.
static SCRIPT: Asset = module(include_str!("../assets/app.js"));
static CONNECTION: Asset = module(include_str!("../assets/connection.js"));
static FORMAT: Asset = module(include_str!("../assets/format.js"));
static MODEL: Asset = module(include_str!("../assets/model.js"));
static ROWS: Asset = module(include_str!("../assets/rows.js"));
static STATE: Asset = module(include_str!("../assets/state.js"));
static TABLE: Asset = module(include_str!("../assets/table.js"));
static WORDS: Asset = module(include_str!("../assets/words.js"));

/// Every asset but the page itself, by the path it is served at. A new module is one line here.
static ASSETS: [(&str, &Asset); 14] = [
    ("/assets/app.js", &SCRIPT),
    ("/assets/connection.js", &CONNECTION),
    ("/assets/format.js", &FORMAT),
    ("/assets/model.js", &MODEL),
    ("/assets/rows.js", &ROWS),
    ("/assets/state.js", &STATE),
    ("/assets/table.js", &TABLE),
    ("/assets/words.js", &WORDS),
    ("/assets/app.css", &STYLE),
    ("/assets/detail.js", &DETAIL),
    ("/assets/backtest.js", &BACKTEST),
    ("/assets/expression.js", &EXPRESSION),
    ("/assets/panels.css", &PANELS_STYLE),
    (
        "/assets/vendor/lightweight-charts.standalone.production.mjs",
        &CHARTS,
    ),
];

/// The page only talks to its own origin; inline style attributes carry the widths of the bars.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    ASSETS.iter().fold(
        Router::new().route(
            "/",
            get(|headers: HeaderMap| async move { serve(&INDEX, &headers) }),
        ),
        |router, &(path, asset)| {
            router.route(
                path,
                get(move |headers: HeaderMap| async move { serve(asset, &headers) }),
            )
        },
    )
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.tag);
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.trim_start_matches("W/") == etag
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if asset.content_type.starts_with("text/html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_only_its_own_assets() {
        for path in [
            "/assets/app.js",
            "/assets/app.css",
            "/assets/detail.js",
            "/assets/backtest.js",
            "/assets/expression.js",
            "/assets/panels.css",
        ] {
            assert!(INDEX.body.contains(path), "index.html links {path}");
        }
        // Every module another imports is served, and nothing else is needed.
        let served: Vec<&str> = ASSETS.iter().map(|(path, _)| *path).collect();
        for (name, asset) in &ASSETS {
            for import in asset.body.split("from './").skip(1) {
                let imported = import.split('\'').next().unwrap_or_default();
                assert!(
                    served.contains(&format!("/assets/{imported}").as_str()),
                    "{name} imports {imported}, which is not served"
                );
            }
        }
        assert!(
            DETAIL
                .body
                .contains("'./vendor/lightweight-charts.standalone.production.mjs'")
        );
        // Addresses of other hosts only as links a person follows (the symbol on TradingView, the
        // chart library's attribution), the licence's text and the SVG namespace: nothing loaded.
        let allowed = [
            "https://www.tradingview.com/symbols/",
            "https://www.tradingview.com/?utm_medium=lwc-link",
            "https://www.apache.org/licenses/LICENSE-2.0",
            "http://www.w3.org/2000/svg",
        ];
        for (path, asset) in std::iter::once(("/", &INDEX)).chain(ASSETS.iter().copied()) {
            for (at, _) in asset.body.match_indices("http") {
                let rest = &asset.body[at..];
                if !(rest.starts_with("http://") || rest.starts_with("https://")) {
                    continue;
                }
                assert!(
                    allowed.iter().any(|a| rest.starts_with(a)),
                    "{path} names another host: {}",
                    rest.chars().take(60).collect::<String>()
                );
            }
        }
    }

    #[test]
    fn a_matching_etag_gets_not_modified() {
        let script = &SCRIPT;
        let first = serve(script, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(
            first.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag.clone());
        let second = serve(script, &again);
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(second.headers()[header::ETAG], etag);
        let mut other = HeaderMap::new();
        other.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"0\""));
        assert_eq!(serve(script, &other).status(), StatusCode::OK);
        assert_ne!(
            serve(&STYLE, &HeaderMap::new()).headers()[header::ETAG],
            etag
        );
    }
}
