//! The calc process: registers as "calc" and serves until it is stopped.

#[rusm_rs::main]
fn main() {
    rusm_rs::register("calc", rusm_rs::self_pid()).expect("the name calc is free");
    rusm_rs::service::serve(calc::Calc::default());
}
