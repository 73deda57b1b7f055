//! Rebuilds the program when bpf-linker changes (it is the linker of the BPF
//! target and cargo does not track it otherwise).

fn main() {
    match which::which("bpf-linker") {
        Ok(path) => println!("cargo:rerun-if-changed={}", path.display()),
        Err(err) => println!("cargo:warning=bpf-linker not found on PATH: {err}"),
    }
}
