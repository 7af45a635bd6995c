use taskmon::kinds::Kind;

fn main() {
    println!("taskmon {} — task kinds:", env!("CARGO_PKG_VERSION"));
    for kind in Kind::ALL {
        println!("  {:<15} {}", kind.name(), kind.lesson());
    }
    println!("\nThe dashboard is not built yet.");
}
