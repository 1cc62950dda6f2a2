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
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[rusm_rs::main] takes no arguments",
        )
        .to_compile_error()
        .into();
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
