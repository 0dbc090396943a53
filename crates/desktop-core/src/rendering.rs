//! How WebKitGTK should draw the window, decided before it starts. Pure: the
//! caller reads the environment and `/dev/dri`.
//!
//! WebKitGTK composites the page with OpenGL. Without a GPU render node
//! (a VM, a remote X display, Xvfb) that OpenGL is Mesa's software
//! rasteriser, which keeps a copy of every layer and about 90 MB more in the
//! web process, only to draw what WebKit's own CPU path draws directly
//! (measured with `cargo xtask bench desktop`: the web process holds 216 MB
//! composited, 128 MB not, on the same apps list). With a GPU, WebKit's
//! choice stands.

/// The variable WebKitGTK reads at start to draw without compositing.
pub const NO_COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Whether to turn compositing off: only when there is no render node and
/// the user has not set the variable either way.
pub fn disable_compositing(already_set: bool, has_render_node: bool) -> bool {
    !already_set && !has_render_node
}

/// Whether a `/dev/dri` entry name is a GPU render node.
pub fn is_render_node(name: &str) -> bool {
    name.strip_prefix("renderD").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositing_is_turned_off_only_without_a_gpu_and_without_a_choice() {
        for (already_set, has_render_node, off) in [(false, false, true), (false, true, false), (true, false, false), (true, true, false)] {
            assert_eq!(disable_compositing(already_set, has_render_node), off, "set {already_set}, render node {has_render_node}");
        }
    }

    #[test]
    fn render_nodes_are_named_render_d_and_a_number() {
        for (name, is) in [("renderD128", true), ("renderD1", true), ("card0", false), ("renderD", false), ("renderDx", false), ("by-path", false)] {
            assert_eq!(is_render_node(name), is, "{name}");
        }
    }
}
