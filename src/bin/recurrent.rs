fn main() {
    eprintln!("error: the command line is not implemented yet");
    std::process::exit(2);
}
