//! How WebKitGTK should draw the window, decided before it starts. The
//! decisions are pure; [`render_node_present`] is the one look at the machine.
//!
//! WebKitGTK composites the page with OpenGL. Without a GPU render node
//! (a VM, a remote X display, Xvfb) that OpenGL is Mesa's software
//! rasteriser, which keeps a copy of every layer and about 90 MB more in the
//! web process, only to draw what WebKit's own CPU path draws directly
//! (measured with `cargo xtask bench desktop`: the web process holds 216 MB
//! composited, 128 MB not, on the same apps list). With a GPU, WebKit's
//! choice stands.
//!
//! The same fact decides how a terminal draws. Without a render node, WebGL
//! is that software rasteriser too: xterm's WebGL renderer then costs a GL
//! context and a glyph atlas (about 50 MB in the web process) to draw on the
//! CPU what its DOM renderer draws there anyway. The page cannot tell:
//! WebKitGTK masks the renderer's name ("Apple GPU"), so the desktop says.

/// The variable WebKitGTK reads at start to draw without compositing.
pub const NO_COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Whether to turn compositing off: only when there is no render node and
/// the user has not set the variable either way.
pub fn disable_compositing(already_set: bool, has_render_node: bool) -> bool {
    !already_set && !has_render_node
}

/// How the window draws, as the desktop decided it at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendering {
    /// A GPU render node exists: WebGL is hardware, and worth a terminal's memory.
    pub gpu: bool,
    /// The desktop turned WebKit's compositing off (see [`disable_compositing`]).
    pub compositing_off: bool,
}

impl Rendering {
    /// The decision for a machine with or without a render node, given
    /// whether the user set [`NO_COMPOSITING`] themselves.
    pub fn decide(already_set: bool, has_render_node: bool) -> Self {
        Self {
            gpu: has_render_node,
            compositing_off: disable_compositing(already_set, has_render_node),
        }
    }
}

/// Whether this machine has a GPU render node (`/dev/dri/renderD*`).
pub fn render_node_present() -> bool {
    std::fs::read_dir("/dev/dri")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_str().is_some_and(is_render_node))
        })
        .unwrap_or(false)
}

/// Whether a `/dev/dri` entry name is a GPU render node.
pub fn is_render_node(name: &str) -> bool {
    name.strip_prefix("renderD")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// When JavaScriptCore compiles the page's functions, as `JSC_<option>`
/// variables (read by the web process at start). By default it compiles a
/// function with its baseline JIT after about 500 runs and optimises it
/// after about 1000: the page's start-up code (React rendering the views,
/// run a few hundred times) gets compiled twice, and the compilers' code and
/// output stay in the web process. Ten and twenty times later, start-up code
/// stays interpreted and only what runs hot is compiled (a terminal's parser
/// under a burst of output tiers up within it). Measured with `cargo xtask
/// bench desktop` (debug build): the web process holds 122 MB on the apps
/// list against 130 to 135, and a burst of terminal output draws as fast
/// (4.6 MB/s against 4.2 to 4.8). Turning the JIT off instead holds 113 MB
/// but draws that output four times slower (1.1 MB/s).
pub const JS_TIERS: [(&str, &str); 4] = [
    ("JSC_thresholdForJITAfterWarmUp", "5000"),
    ("JSC_thresholdForJITSoon", "5000"),
    ("JSC_thresholdForOptimizeAfterWarmUp", "20000"),
    ("JSC_thresholdForOptimizeSoon", "20000"),
];

/// The [`JS_TIERS`] to set: each one the user has not set themselves.
pub fn js_tiers_to_set(is_set: impl Fn(&str) -> bool) -> Vec<(&'static str, &'static str)> {
    JS_TIERS.into_iter().filter(|(k, _)| !is_set(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_tiers_are_set_where_the_user_set_nothing() {
        let all: Vec<_> = JS_TIERS.to_vec();
        for (user_set, expected) in [
            (vec![], all.clone()),
            (vec!["JSC_thresholdForJITAfterWarmUp"], all[1..].to_vec()),
            (JS_TIERS.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![]),
            (vec!["JSC_useJIT"], all.clone()),
        ] {
            assert_eq!(
                js_tiers_to_set(|k| user_set.contains(&k)),
                expected,
                "user set {user_set:?}"
            );
        }
    }

    #[test]
    fn compositing_is_turned_off_only_without_a_gpu_and_without_a_choice() {
        for (already_set, has_render_node, off) in [
            (false, false, true),
            (false, true, false),
            (true, false, false),
            (true, true, false),
        ] {
            assert_eq!(
                disable_compositing(already_set, has_render_node),
                off,
                "set {already_set}, render node {has_render_node}"
            );
        }
    }

    #[test]
    fn terminals_draw_with_webgl_only_on_a_gpu_whatever_the_user_set() {
        for (already_set, has_render_node, gpu, off) in [
            (false, false, false, true),
            (false, true, true, false),
            (true, false, false, false),
            (true, true, true, false),
        ] {
            assert_eq!(
                Rendering::decide(already_set, has_render_node),
                Rendering {
                    gpu,
                    compositing_off: off
                },
                "set {already_set}, render node {has_render_node}"
            );
        }
    }

    #[test]
    fn render_nodes_are_named_render_d_and_a_number() {
        for (name, is) in [
            ("renderD128", true),
            ("renderD1", true),
            ("card0", false),
            ("renderD", false),
            ("renderDx", false),
            ("by-path", false),
        ] {
            assert_eq!(is_render_node(name), is, "{name}");
        }
    }
}
