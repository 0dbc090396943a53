import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./index.css";
import { App } from "./App";
import { tauriBackend } from "./api/backend";
import { initTheme } from "./lib/theme";

// Start-up milestones (User Timing), read by `cargo xtask bench desktop`.
performance.mark("appos:script");
initTheme();
const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App backend={tauriBackend} />
    </StrictMode>,
  );
}
