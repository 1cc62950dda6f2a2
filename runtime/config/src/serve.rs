//! `[[serve]]` listeners, their `[serve.routes]`, and the route table built
//! from them (path matching by `matchit`, the router axum uses).
//!
//! ```
//! let config = rusm_config::AppConfig::parse(r#"
//!     [app]
//!     entry = "api"
//!
//!     [[serve]]
//!     address = "127.0.0.1:8080"
//!     kind = "http"
//!
//!     [serve.routes]
//!     "GET /users/:id" = "api#show"
//! "#).unwrap();
//! let routes = &config.serve[0].routes;
//! let found = routes.find("GET", "/users/7").unwrap();
//! assert_eq!((found.component, found.action), ("api", "show"));
//! assert_eq!(found.params, [("id".to_string(), "7".to_string())]);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::Deserialize;

/// `[[serve]]`: one listening socket.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawListener")]
pub struct Listener {
    pub address: SocketAddr,
    pub kind: ListenerKind,
    /// The component that handles every request or connection (a WebSocket
    /// handler, or an HTTP component that is its own router).
    pub component: Option<String>,
    /// `[serve.routes]`: which component action answers which request.
    pub routes: RouteTable,
    pub limits: ServeLimits,
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenerKind {
    Http,
    Ws,
}

/// The limits of one listener; exceeding one is answered with its status
/// code (or closes the WebSocket), never a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ServeLimits {
    /// A larger request body is refused with 413.
    pub max_body_bytes: usize,
    /// Larger request headers are refused with 431.
    pub max_header_bytes: usize,
    /// A request not received in full within this is answered 408.
    pub request_timeout_ms: u64,
    /// A request's process that has not begun its answer within this is
    /// ended (`timeout`) and its client answered 504. One that has begun
    /// (an SSE stream, a WebSocket) may run on.
    pub handler_timeout_ms: u64,
    /// Connections open at once; one more is answered 503.
    pub max_connections: usize,
    /// A larger WebSocket frame closes the connection.
    pub max_frame_bytes: usize,
}

impl Default for ServeLimits {
    fn default() -> ServeLimits {
        ServeLimits {
            max_body_bytes: 1 << 20,
            max_header_bytes: 16 << 10,
            request_timeout_ms: 30_000,
            handler_timeout_ms: 30_000,
            max_connections: 1_024,
            max_frame_bytes: 1 << 20,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawListener {
    address: SocketAddr,
    kind: ListenerKind,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    routes: BTreeMap<String, String>,
    #[serde(default)]
    limits: ServeLimits,
}

impl TryFrom<RawListener> for Listener {
    type Error = String;

    fn try_from(raw: RawListener) -> Result<Listener, String> {
        match (raw.kind, &raw.component, raw.routes.is_empty()) {
            (ListenerKind::Ws, None, _) => {
                return Err("a ws listener names its handler: component = \"<name>\"".into());
            }
            (ListenerKind::Ws, Some(_), false) => {
                return Err(
                    "a ws listener has no routes: its component handles every connection".into(),
                );
            }
            (ListenerKind::Http, None, true) => {
                return Err(
                    "an http listener needs [serve.routes] (or a component that is its own handler)"
                        .into(),
                );
            }
            _ => {}
        }
        if raw.limits.max_header_bytes < MIN_HEADER_BYTES {
            return Err(format!(
                "limits.max-header-bytes is {}: at least {MIN_HEADER_BYTES} (hyper's smallest head buffer)",
                raw.limits.max_header_bytes
            ));
        }
        let mut routes = RouteTable::default();
        for (key, target) in &raw.routes {
            routes
                .insert(key, target)
                .map_err(|e| format!("routes: {key:?} = {target:?}: {e}"))?;
        }
        Ok(Listener {
            address: raw.address,
            kind: raw.kind,
            component: raw.component,
            routes,
            limits: raw.limits,
        })
    }
}

/// The smallest `max-header-bytes`: hyper reads a head into a buffer at
/// least this large.
pub const MIN_HEADER_BYTES: usize = 8192;

/// The HTTP methods a route may name.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Routes by method, then by path.
#[derive(Clone, Default)]
pub struct RouteTable {
    by_method: BTreeMap<String, matchit::Router<Target>>,
    /// The routes as written, for errors and listings.
    written: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Target {
    component: String,
    action: String,
}

/// A request matched to its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub component: &'a str,
    pub action: &'a str,
    /// The path's parameters, in route order.
    pub params: Vec<(String, String)>,
}

/// Why a request has no action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFound {
    /// No route has this path (404).
    Path,
    /// Routes have this path, for other methods (405, `Allow: ...`).
    Method { allowed: Vec<String> },
}

impl RouteTable {
    /// Adds `"METHOD /path/:param" = "component#action"`.
    fn insert(&mut self, key: &str, target: &str) -> Result<(), String> {
        let (method, path) = key
            .split_once(' ')
            .ok_or("write the route as \"METHOD /path\", e.g. \"GET /users/:id\"")?;
        if !METHODS.contains(&method) {
            return Err(format!(
                "unknown method {method:?} (one of {})",
                METHODS.join(", ")
            ));
        }
        let pattern = matchit_pattern(path)?;
        let (component, action) = target
            .split_once('#')
            .filter(|(c, a)| !c.is_empty() && is_identifier(a))
            .ok_or("write the target as \"component#action\"")?;
        let target = Target {
            component: component.to_string(),
            action: action.to_string(),
        };
        self.by_method
            .entry(method.to_string())
            .or_default()
            .insert(pattern, target)
            .map_err(|e| match e {
                matchit::InsertError::Conflict { with } => {
                    format!("conflicts with the route for {}", written_path(&with))
                }
                other => other.to_string(),
            })?;
        self.written
            .push((key.to_string(), format!("{component}#{action}")));
        Ok(())
    }

    /// The action for `method` and `path`.
    pub fn find(&self, method: &str, path: &str) -> Result<Found<'_>, NotFound> {
        if let Some(router) = self.by_method.get(method)
            && let Ok(matched) = router.at(path)
        {
            return Ok(Found {
                component: &matched.value.component,
                action: &matched.value.action,
                params: matched
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            });
        }
        let allowed: Vec<String> = self
            .by_method
            .iter()
            .filter(|(_, router)| router.at(path).is_ok())
            .map(|(method, _)| method.clone())
            .collect();
        if allowed.is_empty() {
            Err(NotFound::Path)
        } else {
            Err(NotFound::Method { allowed })
        }
    }

    /// The components the routes name.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.written
            .iter()
            .map(|(_, target)| target.split('#').next().unwrap_or_default())
    }

    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }
}

impl fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.written.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// `/users/:id/*rest` (the form users write) as matchit's
/// `/users/{id}/{*rest}`, with literal braces escaped.
fn matchit_pattern(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("the path {path:?} must start with /"));
    }
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    let mut pattern = Vec::with_capacity(segments.len());
    for (n, segment) in segments.into_iter().enumerate() {
        pattern.push(if let Some(name) = segment.strip_prefix(':') {
            if !is_identifier(name) {
                return Err(format!("parameter {segment:?} needs a name: /:name"));
            }
            format!("{{{name}}}")
        } else if let Some(name) = segment.strip_prefix('*') {
            if !is_identifier(name) || n != last {
                return Err(format!(
                    "{segment:?}: a catch-all is named and comes last: /*rest"
                ));
            }
            format!("{{*{name}}}")
        } else {
            segment.replace('{', "{{").replace('}', "}}")
        });
    }
    Ok(pattern.join("/"))
}

/// matchit's `/users/{id}` back in the written form `/users/:id`.
fn written_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(
            |s| match s.strip_prefix("{*").or_else(|| s.strip_prefix('{')) {
                Some(rest) if s.starts_with("{*") => format!("*{}", rest.trim_end_matches('}')),
                Some(rest) => format!(":{}", rest.trim_end_matches('}')),
                None => s.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use crate::AppConfig;

    fn parse(serve: &str) -> Result<AppConfig, String> {
        AppConfig::parse(&format!("[app]\nentry = \"api\"\n\n{serve}")).map_err(|e| e.to_string())
    }

    const API: &str = r#"
[[serve]]
address = "127.0.0.1:8080"
kind = "http"

[serve.routes]
"GET /users/:id" = "api#show"
"GET /events/:room" = "api#events"
"POST /users" = "api#create"
"GET /files/*path" = "api#file"
"GET /users/me" = "api#me"

[[serve]]
address = "127.0.0.1:8081"
kind = "ws"
component = "echo"
"#;

    #[test]
    fn routes_match_by_method_and_path_with_params() {
        let config = parse(API).unwrap();
        let routes = &config.serve[0].routes;
        let found = routes.find("GET", "/users/42").unwrap();
        assert_eq!((found.component, found.action), ("api", "show"));
        assert_eq!(found.params, [("id".into(), "42".into())]);
        assert_eq!(
            routes.find("GET", "/users/me").unwrap().action,
            "me",
            "static wins"
        );
        let file = routes.find("GET", "/files/a/b.txt").unwrap();
        assert_eq!(file.params, [("path".into(), "a/b.txt".into())]);
        assert_eq!(routes.find("GET", "/nowhere"), Err(super::NotFound::Path));
        assert_eq!(
            routes.find("DELETE", "/users"),
            Err(super::NotFound::Method {
                allowed: vec!["POST".into()]
            })
        );
        assert_eq!(config.serve[1].component.as_deref(), Some("echo"));
        assert_eq!(config.serve[1].limits, super::ServeLimits::default());
    }

    #[test]
    fn a_header_limit_below_hypers_buffer_is_refused() {
        let text = "[[serve]]\naddress = \"127.0.0.1:1\"\nkind = \"ws\"\ncomponent = \"e\"\n\n[serve.limits]\nmax-header-bytes = 100\n";
        let err = AppConfig::parse(text).unwrap_err().to_string();
        assert!(
            err.contains("limits.max-header-bytes is 100: at least 8192"),
            "{err}"
        );
    }

    #[test]
    fn bad_routes_are_errors_naming_the_route_and_line() {
        for (route, error) in [
            (r#""GET/users" = "api#show""#, "METHOD /path"),
            (r#""FETCH /users" = "api#show""#, "unknown method \"FETCH\""),
            (r#""GET users" = "api#show""#, "must start with /"),
            (r#""GET /users/:" = "api#show""#, "needs a name"),
            (r#""GET /a/*rest/b" = "api#show""#, "comes last"),
            (r#""GET /users" = "api""#, "component#action"),
            (r#""GET /users" = "api#""#, "component#action"),
        ] {
            let text = format!(
                "[[serve]]\naddress = \"127.0.0.1:1\"\nkind = \"http\"\n[serve.routes]\n{route}\n"
            );
            let err = parse(&text).unwrap_err();
            assert!(err.contains(error), "{route}: {err}");
            assert!(
                err.contains("line 4"),
                "{route}: the listener's line: {err}"
            );
        }
        let conflict = parse(
            "[[serve]]\naddress = \"127.0.0.1:1\"\nkind = \"http\"\n[serve.routes]\n\
             \"GET /u/:id\" = \"api#a\"\n\"GET /u/:name\" = \"api#b\"\n",
        )
        .unwrap_err();
        assert!(
            conflict.contains("conflicts with the route for /u/:id"),
            "{conflict}"
        );
    }

    #[test]
    fn listeners_must_say_who_answers() {
        let ws = parse("[[serve]]\naddress = \"127.0.0.1:1\"\nkind = \"ws\"\n").unwrap_err();
        assert!(ws.contains("names its handler"), "{ws}");
        let http = parse("[[serve]]\naddress = \"127.0.0.1:1\"\nkind = \"http\"\n").unwrap_err();
        assert!(http.contains("needs [serve.routes]"), "{http}");
        let address =
            parse("[[serve]]\naddress = \"localhost\"\nkind = \"http\"\ncomponent = \"api\"\n")
                .unwrap_err();
        assert!(
            address.contains("address") && address.contains("line 5"),
            "{address}"
        );
        let limit = parse(
            "[[serve]]\naddress = \"127.0.0.1:1\"\nkind = \"ws\"\ncomponent = \"echo\"\n\
             [serve.limits]\nmax-body-byte = 3\n",
        )
        .unwrap_err();
        assert!(limit.contains("max-body-byte"), "{limit}");
    }
}

#[cfg(test)]
mod components_tests {
    use crate::{AppConfig, ComponentConfig};

    #[test]
    fn resident_components_and_every_named_component_is_checked() {
        let config = AppConfig::parse(
            "[app]\nentry = \"api\"\n\n[components.counter]\nresident = true\ninit = '{}'\n\
             max-restarts = 5\n\n[[serve]]\naddress = \"127.0.0.1:1\"\nkind = \"http\"\n\
             [serve.routes]\n\"GET /n\" = \"api#count\"\n\"GET /x\" = \"ghost#x\"\n",
        )
        .unwrap();
        assert_eq!(
            config.components["counter"],
            ComponentConfig {
                resident: true,
                init: "{}".into(),
                max_restarts: 5,
                ..ComponentConfig::default()
            }
        );
        let known = ["api".to_string(), "counter".to_string()];
        let err = config.check_components(&known).unwrap_err().to_string();
        assert!(
            err.starts_with("serve.routes: no component named \"ghost\""),
            "{err}"
        );
    }
}
