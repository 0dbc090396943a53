fn main() {
    // The Tauri config lives at the workspace root, beside the frontend it points at.
    let attrs = tauri_build::Attributes::new().config_path("../tauri.conf.json");
    if let Err(error) = tauri_build::try_build(attrs) {
        panic!("tauri build step failed: {error:#}");
    }
}
