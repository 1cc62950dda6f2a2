//! `#[rusm_rs::handlers]`: a module of actions becomes a serving component.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Item, ItemMod, Visibility};

pub(crate) fn expand(module: ItemMod) -> syn::Result<TokenStream> {
    let Some((_, items)) = &module.content else {
        return Err(syn::Error::new_spanned(
            &module,
            "#[rusm_rs::handlers] goes on an inline module: pub mod api { ... }",
        ));
    };
    let module_name = &module.ident;
    let mut names = Vec::new();
    let mut arms = Vec::new();
    for item in items {
        let Item::Fn(action) = item else { continue };
        if !matches!(action.vis, Visibility::Public(_)) {
            continue; // a helper of the actions
        }
        let name = &action.sig.ident;
        let text = name.to_string();
        let arm = match action.sig.inputs.len() {
            2 => quote! {
                #text => {
                    ::rusm_rs::http::__private::respond(#module_name::#name(request, params));
                    true
                }
            },
            3 => quote! {
                #text => {
                    #module_name::#name(request, params, ::rusm_rs::http::__private::begin_sse());
                    true
                }
            },
            n => {
                return Err(syn::Error::new_spanned(
                    &action.sig,
                    format!(
                        "action `{text}` takes {n} arguments: an action is \
                         fn(Request, Params) -> Response, or \
                         fn(Request, Params, Sse) to stream events"
                    ),
                ));
            }
        };
        names.push(text);
        arms.push(arm);
    }
    if arms.is_empty() {
        return Err(syn::Error::new_spanned(
            &module.ident,
            "#[rusm_rs::handlers] found no `pub fn` action in this module",
        ));
    }
    Ok(quote! {
        #module

        fn main() {
            ::rusm_rs::__private::start();
            ::rusm_rs::http::__private::serve(&[#(#names),*], |action, request, params| {
                match action {
                    #(#arms)*
                    _ => false,
                }
            });
        }
    })
}
