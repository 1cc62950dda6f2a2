//! The counter process: registers as "counter" and serves until stopped.

#[rusm_rs::main]
fn main() {
    rusm_rs::register("counter", rusm_rs::self_pid()).expect("the name counter is free");
    rusm_rs::service::serve(counter::Counter::default());
}
