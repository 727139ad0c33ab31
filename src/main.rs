//! rightsize: size an ML inference endpoint from a load test. All logic lives in the library.

fn main() {
    std::process::exit(rightsize::cli::main());
}
