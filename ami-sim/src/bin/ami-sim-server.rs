//! `ami-sim-server`: serves a simulated AWS world over EC2 Query, KMS JSON and STS Query.

fn main() {
    eprintln!("ami-sim-server: not built yet");
    std::process::exit(2);
}
