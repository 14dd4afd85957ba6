//! Prints the token sequences `tests/value_stability.rs` pins (run after a deliberate change).
#![allow(clippy::unwrap_used)]
#[path = "../tests/value_stability.rs"]
#[allow(dead_code)]
mod value_stability;

fn main() {
    println!("[");
    for i in 0..20 {
        println!(
            "    {:?},",
            value_stability::sequence(i, dial_sampling::Isa::detect())
        );
    }
    println!("]");
}
