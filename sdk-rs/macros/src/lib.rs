//! Proc-macros of `rusm-rs`. Use them through `rusm_rs`, not directly.

use proc_macro::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, parse_macro_input};

/// Marks a guest's `main`. It installs the panic hook that turns a panic into
/// the exit reason `trap(<panic message>)`, then runs the body. `main` may
/// take one argument: the init payload, decoded from JSON into its type.
///
/// ```ignore
/// #[rusm_rs::main]
/// fn main(rounds: u32) { /* ... */ }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(error) = refuse_arguments(attr, "main") {
        return error;
    }
    let user = parse_macro_input!(item as ItemFn);
    let body = &user.block;
    let output = &user.sig.output;
    let expanded = match user.sig.inputs.len() {
        0 => quote! {
            fn main() #output {
                ::rusm_rs::__private::start();
                #body
            }
        },
        1 => {
            let FnArg::Typed(arg) = &user.sig.inputs[0] else {
                return syn::Error::new_spanned(&user.sig.inputs, "main cannot take self")
                    .to_compile_error()
                    .into();
            };
            let (pat, ty) = (&arg.pat, &arg.ty);
            quote! {
                fn main() #output {
                    ::rusm_rs::__private::start();
                    let #pat: #ty = ::rusm_rs::__private::decode_init();
                    #body
                }
            }
        }
        _ => syn::Error::new_spanned(
            &user.sig.inputs,
            "#[rusm_rs::main] takes at most one argument: the init payload",
        )
        .to_compile_error(),
    };
    expanded.into()
}

/// Turns an `impl` block into a service and writes its typed client.
///
/// Every `pub fn` taking `&mut self` becomes a method callable over the
/// wire (`docs/wire.md`), by its name. A parameter of type `Stream<T>` makes
/// it a streaming method (it sends items; the stream ends when it returns);
/// a parameter of type `Callback<A, R>` is a function the caller passes and
/// the method may invoke; `#[cast]` marks a method the client fires and
/// forgets. Parameters and results are any serde types (owned).
///
/// Beside `impl Service for Calc`, it writes `CalcClient`, whose methods
/// mirror the service's: a call returns `Result<R, CallError>`, a stream an
/// iterator of `Result<T, CallError>`, a cast returns at once, and a
/// callback parameter takes a closure.
///
/// ```ignore
/// #[derive(Default)]
/// struct Calc { total: i64 }
///
/// #[rusm_rs::service]
/// impl Calc {
///     pub fn add(&mut self, a: i64, b: i64) -> i64 { self.total += a + b; self.total }
///     #[cast]
///     pub fn reset(&mut self) { self.total = 0 }
///     pub fn count(&mut self, to: u32, out: Stream<u32>) { for n in 0..to { out.send(&n) } }
///     pub fn fold(&mut self, xs: Vec<i64>, f: Callback<(i64, i64), i64>) -> i64 {
///         xs.into_iter().fold(0, |acc, x| f.call((acc, x)).unwrap_or(acc))
///     }
/// }
///
/// // elsewhere: rusm_rs::service::serve(Calc::default());
/// let calc = CalcClient::new(pid);
/// assert_eq!(calc.add(2, 3)?, 5);
/// ```
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(error) = refuse_arguments(attr, "service") {
        return error;
    }
    let block = parse_macro_input!(item as syn::ItemImpl);
    match service::expand(block) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

mod handlers;
mod service;

/// Turns a module of actions into a serving component: it writes the
/// component's `main`, which runs the action the request's route names
/// (`[serve.routes]`: `"GET /users/:id" = "api#show"` runs `show` of the
/// component `api`). Every `pub fn` is an action:
/// `fn(Request, Params) -> Response` answers at once;
/// `fn(Request, Params, Sse)` streams Server-Sent Events for as long as it
/// runs. Other items of the module are left as they are.
///
/// ```ignore
/// use rusm_rs::http::{Params, Request, Response, Sse};
///
/// #[rusm_rs::handlers]
/// pub mod api {
///     use super::*;
///
///     pub fn show(_req: Request, p: Params) -> Response {
///         Response::text(format!("user {}\n", p.get("id").unwrap_or("?")))
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn handlers(attr: TokenStream, item: TokenStream) -> TokenStream {
    if let Some(error) = refuse_arguments(attr, "handlers") {
        return error;
    }
    let module = parse_macro_input!(item as syn::ItemMod);
    match handlers::expand(module) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The compile error for `#[rusm_rs::<name>(..)]`, which takes no arguments.
fn refuse_arguments(attr: TokenStream, name: &str) -> Option<TokenStream> {
    if attr.is_empty() {
        return None;
    }
    let message = format!("#[rusm_rs::{name}] takes no arguments");
    Some(
        syn::Error::new(proc_macro2::Span::call_site(), message)
            .to_compile_error()
            .into(),
    )
}
