//! Registers as "rooms" and serves until stopped.

#[rusm_rs::main]
fn main() {
    rusm_rs::register("rooms", rusm_rs::self_pid()).expect("the name rooms is free");
    rusm_rs::service::serve(rooms::Rooms::default());
}
