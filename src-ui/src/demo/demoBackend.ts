// A browser-only Backend with made-up data and a simulated deployment, for
// working on the UI without Tauri (`npm run dev`, then open /demo.html).
import type { Backend, StreamHandle } from "../api/backend";
import type { AgentCall, AgentCallResponse, CallName, CallOf, TokenInfo } from "../api/calls.gen";
import type { AddServerForm, Connection, InstallCheck, InstallForm, InstallProgress, LocalProject, ServerEntry, StreamItem, StreamRequest, UiError } from "../api/desktop.gen";
import { demoTerminals } from "./demoTerminal";
import type { AgentInfo, Alert, AlertRule, AlertRuleSettings, App, BackupRun, BackupSchedule, ScheduleStatus, Snapshot, AppFile, AppVersion, AuditEntry, CatalogEntry, Channel, Deployment, DeploymentStep, Domain, Event, HostAccess, HostAccessNeed, LogLine, PullProgress } from "../api/types.gen";
import { describeHostAccess } from "../lib/hostaccess";

const now = () => Date.now();
const err = (code: UiError["code"], message: string, fields: UiError["fields"] = []): UiError => ({ code, message, host_key: null, fields });

const container = (app: string, service: string, image: string, state = "running", status = "Up 2 hours", ports: App["services"][0]["containers"][0]["ports"] = []) => ({
  id: `${app}-${service}`,
  name: `${app}-${service}-1`,
  image,
  state,
  status,
  ports,
});

const apps: App[] = [
  {
    name: "blog",
    state: "running",
    managed: true,
    working_dir: "/var/lib/appos/apps/blog",
    config_files: ["/var/lib/appos/apps/blog/compose.yml"],
    last_deployment: { id: "d-100", operation: "deploy", state: "succeeded", error: null },
    services: [
      { name: "web", containers: [container("blog", "web", "ghost:5.96", "running", "Up 2 hours (healthy)", [{ private_port: 2368, public_port: 8080, ip: "0.0.0.0", protocol: "tcp" }])] },
      { name: "db", containers: [container("blog", "db", "mysql:8.4")] },
    ],
  },
  {
    name: "monitoring",
    state: "partial",
    managed: true,
    working_dir: "/var/lib/appos/apps/monitoring",
    config_files: ["/var/lib/appos/apps/monitoring/compose.yml"],
    last_deployment: { id: "d-101", operation: "restart", state: "failed", error: "worker exited: Exited (1)" },
    services: [
      { name: "kuma", containers: [container("monitoring", "kuma", "louislam/uptime-kuma:1", "running", "Up 3 days", [{ private_port: 3001, public_port: 3001, ip: "127.0.0.1", protocol: "tcp" }])] },
      { name: "worker", containers: [container("monitoring", "worker", "busybox:1.36", "exited", "Exited (1) 5 minutes ago")] },
    ],
  },
  {
    name: "legacy-wiki",
    state: "running",
    managed: false,
    working_dir: "/opt/wiki",
    config_files: ["/opt/wiki/docker-compose.yml"],
    last_deployment: null,
    services: [{ name: "wiki", containers: [container("legacy-wiki", "wiki", "requarks/wiki:2", "running", "Up 12 days", [{ private_port: 3000, public_port: 80, ip: "0.0.0.0", protocol: "tcp" }])] }],
  },
];

const catalog: CatalogEntry[] = [
  {
    id: "ghost",
    name: "Ghost",
    description: "A modern publishing platform for blogs and newsletters, with a MySQL database.",
    category: "cms",
    website: "https://ghost.org",
    logo: "",
    params: [
      { key: "HTTP_PORT", label: "HTTP port", type: "port", description: "Port on the server that serves the blog.", default: "8080", required: true, generate: null },
      { key: "DOMAIN", label: "Domain", type: "domain", description: "Public address of the blog.", default: null, required: false, generate: null },
      { key: "DB_PASSWORD", label: "Database password", type: "password", description: "", default: null, required: true, generate: 32 },
      { key: "MAIL_FROM", label: "Sender address", type: "string", description: "From address of the newsletters.", default: null, required: true, generate: null },
      { key: "WORKERS", label: "Workers", type: "int", description: "", default: "2", required: false, generate: null },
      { key: "SIGNUP", label: "Allow sign-up", type: "bool", description: "Let readers create accounts.", default: "true", required: false, generate: null },
    ],
    host_access: [],
    host_access_grew: false,
  },
  {
    id: "uptime-kuma",
    name: "Uptime Kuma",
    description: "Self-hosted monitoring: HTTP, TCP, DNS checks and status pages.",
    category: "monitoring",
    website: "https://uptime.kuma.pet",
    logo: "",
    params: [],
    // To watch the server's containers.
    host_access: [{ kind: "docker_socket", service: "kuma", target: "/var/run/docker.sock" }],
    host_access_grew: false,
  },
  { id: "redis", name: "Redis", description: "In-memory data store, with AOF persistence.", category: "database", website: "https://redis.io", logo: "", params: [], host_access: [], host_access_grew: false },
  { id: "postgres", name: "PostgreSQL", description: "The relational database, with a generated superuser password.", category: "database", website: "https://postgresql.org", logo: "", params: [], host_access: [], host_access_grew: false },
  { id: "gitea", name: "Gitea", description: "Lightweight self-hosted Git service with issues and CI.", category: "development", website: "https://gitea.io", logo: "", params: [], host_access: [], host_access_grew: false },
  { id: "nextcloud", name: "Nextcloud", description: "Files, calendars and contacts on your own server.", category: "productivity", website: "https://nextcloud.com", logo: "", params: [], host_access: [], host_access_grew: false },
];

const composes: Record<number, string> = {
  1: "services:\n  web:\n    image: ghost:5.94\n    ports:\n      - \"8080:2368\"\n  db:\n    image: mysql:8.0\n",
  2: "services:\n  web:\n    image: ghost:5.96\n    restart: unless-stopped\n    ports:\n      - \"8080:2368\"\n    environment:\n      database__client: mysql\n    volumes:\n      - /srv/blog/content:/var/lib/ghost/content\n  db:\n    image: mysql:8.4\n    restart: unless-stopped\n    volumes:\n      - db:/var/lib/mysql\nvolumes:\n  db: {}\n",
};
const versions: AppVersion[] = [
  { version: 1, author: "desktop", message: "install ghost", created_at: Math.floor(now() / 1000) - 86400 * 3, digests: { web: "sha256:1b2c…", db: "sha256:77af…" }, host_access: [], files: {} },
  {
    version: 2,
    author: "desktop",
    message: "ghost 5.96, mysql 8.4, restart policy, content on /srv",
    created_at: Math.floor(now() / 1000) - 3600,
    digests: {},
    host_access: [{ kind: "bind", service: "web", target: "/srv/blog/content" }],
    files: {},
  },
];

/**
 * The host access of a compose file, read roughly from its text: binds of
 * server paths, the Docker socket, privileged, host network and pid,
 * cap_add and devices. The agent reads the resolved model; this is a demo.
 */
function composeAccess(compose: string): HostAccess[] {
  const out: HostAccess[] = [];
  let section = "";
  let service = "";
  let key = "";
  for (const line of compose.split("\n")) {
    const top = /^([\w-]+):/.exec(line);
    if (top) section = top[1];
    const svc = /^ {2}([\w][\w.-]*):\s*$/.exec(line);
    if (svc && section === "services") service = svc[1];
    const k = /^ {4}([\w_]+):\s*(.*)$/.exec(line);
    if (k && section === "services") {
      key = k[1];
      const v = k[2].replace(/["']/g, "").trim();
      if (key === "privileged" && v === "true") out.push({ kind: "privileged", service, target: "" });
      if (key === "network_mode" && v === "host") out.push({ kind: "host_network", service, target: "host" });
      if (key === "pid" && v === "host") out.push({ kind: "host_namespace", service, target: "pid" });
    }
    const item = /^ {6}-\s*["']?([^"']+)["']?\s*$/.exec(line);
    if (!item || section !== "services") continue;
    const [src, , mode] = item[1].split(":");
    if (key === "cap_add") out.push({ kind: "capability", service, target: item[1].trim() });
    else if (key === "devices") out.push({ kind: "device", service, target: src });
    else if (key === "volumes" && src.startsWith("/")) {
      if (src.endsWith("docker.sock")) out.push({ kind: "docker_socket", service, target: src });
      else out.push({ kind: mode === "ro" ? "read_only_bind" : "bind", service, target: src });
    }
  }
  return out;
}

/** A made-up SHA-256 for a file's content (the demo does not hash). */
const fakeSha = (content: string) => {
  let h = 0;
  for (let i = 0; i < content.length; i++) h = (h * 31 + content.charCodeAt(i)) >>> 0;
  return h.toString(16).padStart(8, "0").repeat(8);
};
const fileHashes = (files: AppFile[]) => Object.fromEntries(files.map((f) => [f.path, fakeSha(f.content)]));

/** A project "on this computer": a static site served by nginx. */
function demoProject(path: string): LocalProject {
  const p = path.trim().replace(/^~(?=\/|$)/, "/home/demo").replace(/\/+$/, "");
  if (!p) throw err("invalid_input", "give the path of a compose file or of the folder that holds it");
  if (/missing|nope/.test(p)) throw err("not_found", `${p} does not exist`);
  const isFile = /\.ya?ml$/.test(p);
  const dir = !isFile ? p : p.includes("/") ? p.slice(0, p.lastIndexOf("/")) || "/" : ".";
  if (/broken/.test(p)) throw err("invalid_input", `./web.env (services.web.env_file) does not exist in ${dir}`);
  const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  const compose =
    "services:\n  web:\n    image: nginx:1.27-alpine\n    restart: unless-stopped\n    ports:\n      - \"8081:80\"\n    env_file: .env\n    volumes:\n      - ./site:/usr/share/nginx/html:ro\n";
  return {
    compose_path: isFile ? p : `${dir}/compose.yaml`,
    compose,
    files: [
      { path: "site/index.html", content: b64("<!doctype html>\n<title>Hello</title>\n<h1>Hello from AppOS</h1>\n"), executable: false },
      { path: "site/style.css", content: b64("body { font-family: system-ui; margin: 4rem; }\n"), executable: false },
    ],
    env: { SITE_TITLE: "My site", ADMIN_TOKEN: "demo-secret-token" },
  };
}

const same = (a: HostAccess, b: HostAccess) => a.kind === b.kind && a.service === b.service && a.target === b.target;
/** As the agent: a read-write mount also grants reading the same path. */
const covers = (g: HostAccess, n: HostAccess) => same(g, n) || (g.kind === "bind" && n.kind === "read_only_bind" && g.service === n.service && g.target === n.target);

const audit: AuditEntry[] = [
  { id: 1, at: Math.floor(now() / 1000) - 86400 * 3, actor: "appos-desktop@laptop", action: "app.deploy", app: "blog", detail: "installed from the catalog template ghost (version 1)", host_access: [] },
  { id: 2, at: Math.floor(now() / 1000) - 86400, actor: "appos-desktop@laptop", action: "terminal.open", app: "blog", detail: "shell in web", host_access: [] },
  { id: 3, at: Math.floor(now() / 1000) - 3600, actor: "appos-desktop@laptop", action: "app.version", app: "blog", detail: "saved version 2 and deployed it", host_access: versions[1].host_access },
  { id: 4, at: Math.floor(now() / 1000) - 600, actor: "appos-cli@ci", action: "app.restart", app: "monitoring", detail: "restart", host_access: [] },
];

const deployments: Deployment[] = [
  { id: "d-100", app: "blog", operation: "deploy", version: 2, state: "succeeded", attempt: 1, error: null, steps: [], created_ms: now() - 3_600_000, finished_ms: now() - 3_560_000 },
  { id: "d-101", app: "monitoring", operation: "restart", version: 4, state: "failed", attempt: 1, error: "worker exited: Exited (1)", steps: [], created_ms: now() - 600_000, finished_ms: now() - 590_000 },
];

const secs = (agoS: number) => Math.floor(now() / 1000) - agoS;
const tokens: TokenInfo[] = [
  { name: "appos-desktop@laptop", scope: "admin", created_at: secs(86400 * 40), last_used_at: secs(60), revoked_at: null },
  { name: "appos-cli@old-laptop", scope: "admin", created_at: secs(86400 * 200), last_used_at: secs(86400 * 45), revoked_at: secs(86400 * 30) },
  { name: "grafana-readonly", scope: "read", created_at: secs(86400 * 12), last_used_at: secs(3600 * 5), revoked_at: null },
  { name: "appos-cli@ci", scope: "admin", created_at: secs(86400 * 2), last_used_at: null, revoked_at: null },
];

const info: AgentInfo = {
  agent_version: "0.1.0",
  data_dir: "/var/lib/appos",
  docker: { version: "27.3.1", api_version: "1.47", negotiated_api_version: "1.47", os: "linux", arch: "amd64" },
  compose: { flavour: "plugin", version: "2.29.7", command: ["docker", "compose"] },
  queue: "sqlite",
  proxy: { backend: "caddy", http: "0.0.0.0:80", https: "0.0.0.0:443" },
};

type Listener = (item: StreamItem) => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The demo desktop's version: newer than prod's agent, to show the upgrade. */
const DESKTOP_VERSION = "0.2.0";
const sshUrl = (f: AddServerForm) => `ssh://${f.user}@${f.host}:${f.port}`;

/** The key of the local server's backup repository, kept on this computer. */
const DEMO_BACKUP_KEY = "3f9c2a71d84e6b05c7a1e9f2b46d3805a1c7e92f4b6d8035e1a7c9f24b6d8e03";

/** A repository's key as the agent generates it: 32 random bytes in hex. */
function newBackupKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The user, host and port of an `sftp:` location, or null. */
function demoSftpTarget(location: string): { user: string; host: string; port: number } | null {
  const m = /^sftp:\/\/([\w.-]+)@([\w.-]+)(?::(\d+))?\/.+$/.exec(location) ?? /^sftp:([\w.-]+)@([\w.-]+):()[^:]+$/.exec(location);
  return m ? { user: m[1], host: m[2], port: m[3] ? Number(m[3]) : 22 } : null;
}

/** The fingerprint a demo SFTP host shows: made up from its name. */
function demoFingerprint(host: string): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let h = 2166136261;
  let out = "";
  for (let i = 0; i < 43; i++) {
    h = Math.imul(h ^ host.charCodeAt(i % host.length), 16777619) >>> 0;
    out += chars[h % 64];
  }
  return `SHA256:${out}`;
}

/** A freshly set-up server that passes every line of the install checklist. */
function demoChecklist(form: InstallForm): InstallCheck[] {
  const checks: InstallCheck[] = [
    { item: "system", ok: true, detail: "Linux x86_64" },
    { item: "root", ok: true, detail: form.server.user === "root" ? "logged in as root" : "sudo without a password" },
    { item: "docker", ok: true, detail: "Docker 27.3.1" },
    { item: "disk", ok: true, detail: `38 GiB free for ${form.data.trim()}` },
  ];
  if (form.proxy_ports) checks.push({ item: "ports", ok: true, detail: `${form.proxy_ports[0]} and ${form.proxy_ports[1]} free for the reverse proxy` });
  checks.push({ item: "appos", ok: true, detail: "not installed yet" });
  return checks;
}

export function demoBackend(): Backend {
  const streams = new Set<{ req: StreamRequest; fn: Listener }>();
  const logs = new Map<string, LogLine[]>();
  let eventId = 1;
  let seq = 0;
  const emit = (kind: string, app: string | null, data: Record<string, unknown>) => {
    const event: Event = { id: eventId++, at_ms: now(), kind, app, data };
    for (const s of streams) if (s.req.type === "events") s.fn({ type: "event", event });
  };
  const log = (d: Deployment, step: string, text: string, pull?: PullProgress) => {
    const line: LogLine = { seq: BigInt(++seq), at_ms: now(), step, text, ...(pull ? { pull } : {}) };
    logs.get(d.id)!.push(line);
    for (const s of streams) if (s.req.type === "deployment_log" && s.req.id === d.id) s.fn({ type: "deployment_log", line });
  };

  function run(app: string, operation: Deployment["operation"], version: number): Deployment {
    const d: Deployment = { id: `d-${Math.random().toString(36).slice(2, 8)}`, app, operation, version, state: "queued", attempt: 1, error: null, steps: [], created_ms: now(), finished_ms: null };
    deployments.push(d);
    logs.set(d.id, []);
    const plan: [string, number, (s: DeploymentStep) => void][] = [
      ["write_files", 300, () => log(d, "write_files", "compose.yml and .env written")],
      ["validate", 500, () => log(d, "validate", "docker compose config: ok")],
      [
        "pull",
        5000,
        () => {
          // As the agent sends them: typed progress, and the same as text for humans.
          const pull = (layer: string, status: string, current = 0, total = 0) =>
            log(d, "pull", `ghost:5.96 ${layer}: ${status}${total > 0 ? ` ${current}/${total}` : ""}`, { image: "ghost:5.96", layer, status, current, total });
          const layers = ["a2abf6c4d29d", "a9edb18cadd1", "589b7251471a", "186b1aaa4aa6"];
          pull("", "Pulling from library/ghost");
          layers.forEach((l, i) => pull(l, i === 0 ? "Already exists" : "Pulling fs layer"));
          let t = 0;
          for (const [i, l] of layers.slice(1).entries()) {
            const total = [29123456, 4_200_000, 61_000_000][i];
            setTimeout(() => pull(l, "Downloading", Math.floor(total / 3), total), (t += 400));
            setTimeout(() => pull(l, "Download complete"), (t += 600));
            setTimeout(() => pull(l, "Extracting", Math.floor(total / 2), total), (t += 300));
            if (i < 2) setTimeout(() => pull(l, "Pull complete"), (t += 300));
          }
        },
      ],
      ["up", 800, () => log(d, "up", "Container blog-db-1  Started\nContainer blog-web-1  Started")],
      ["wait", 600, () => log(d, "wait", "2 containers running after 1.4 s")],
    ];
    let at = 400;
    setTimeout(() => {
      d.state = "running";
      emit("deployment", app, { deployment: d.id, state: d.state, operation, version });
    }, at);
    for (const [name, ms, act] of plan) {
      setTimeout(() => {
        const s: DeploymentStep = { name, state: "running", started_ms: now(), finished_ms: null, detail: "" };
        d.steps.push(s);
        act(s);
        setTimeout(() => {
          s.state = "succeeded";
          s.finished_ms = now();
          s.detail = name === "pull" ? "1 image present, 1 pulled" : name === "wait" ? "2 containers running" : "";
          emit("deployment_step", app, { deployment: d.id, step: name, state: "succeeded" });
        }, ms);
      }, (at += 50));
      at += ms;
    }
    setTimeout(() => {
      d.state = "succeeded";
      d.finished_ms = now();
      emit("deployment", app, { deployment: d.id, state: d.state, operation, version, error: null });
      for (const s of streams) if (s.req.type === "deployment_log" && s.req.id === d.id) s.fn({ type: "end", error: null });
    }, at + 100);
    return structuredClone(d);
  }

  const find = (a: string) => {
    const x = apps.find((p) => p.name === a);
    if (!x) throw err("other", `no app ${a}`);
    return structuredClone(x);
  };

  const { listTerminals, killTerminal, ...terminalApi } = demoTerminals();

  /** What a file or template needs, as the agent's check answers: held when the app's newest version has it. */
  const needsOf = (name: string, compose: string, template: string | null): HostAccessNeed[] => {
    const held = apps.some((a) => a.name === name && a.managed) ? versions[versions.length - 1].host_access : [];
    const access = template ? (catalog.find((c) => c.id === template)?.host_access ?? []) : composeAccess(compose);
    return access.map((a) => ({ access: a, description: describeHostAccess(a), granted: held.some((g) => covers(g, a)) }));
  };
  /** Refuses, as the agent does, what needs access neither held nor granted; else the new version's grant. */
  const grant = (needs: HostAccessNeed[], allow: HostAccess[]): HostAccess[] => {
    const missing = needs.filter((n) => !n.granted && !allow.some((g) => covers(g, n.access)));
    if (missing.length)
      throw err(
        "invalid_input",
        "invalid input",
        missing.map((n) => ({ field: `services.${n.access.service}`, message: `needs host access that was not granted: ${n.description}` })),
      );
    return needs.map((n) => n.access);
  };
  const record = (action: string, app: string, detail: string, host_access: HostAccess[]) =>
    audit.push({ id: audit.length + 1, at: Math.floor(now() / 1000), actor: "appos-desktop@laptop", action, app, detail, host_access });

  const domains: Domain[] = [
    { domain: "blog.example.com", app: "blog", service: "web", port: 2368, ssl: true, force_https: true, redirect_to: null, certificate: { state: "valid", issuer: "R11", not_after: Math.floor(now() / 1000) + 61 * 86400, days_left: 61 } },
    { domain: "status.example.com", app: "monitoring", service: "kuma", port: 3001, ssl: true, force_https: true, redirect_to: null, certificate: { state: "expiring", issuer: "R10", not_after: Math.floor(now() / 1000) + 9 * 86400 + 3600, days_left: 9 } },
    { domain: "wiki.example.org", app: "legacy-wiki", service: "wiki", port: 3000, ssl: false, force_https: false, redirect_to: null, certificate: { state: "none" } },
  ];
  /** When each added domain's certificate is "issued": a pending one turns valid on a later listing. */
  const issuedAt = new Map<string, number>();
  const listDomains = () => {
    for (const d of domains) {
      const at = issuedAt.get(d.domain);
      if (at !== undefined && now() >= at) {
        issuedAt.delete(d.domain);
        d.certificate = { state: "valid", issuer: "R11", not_after: Math.floor(now() / 1000) + 90 * 86400, days_left: 90 };
      }
    }
    return structuredClone(domains);
  };
  const DOMAIN_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

  const alerts: Alert[] = [
    {
      id: 2,
      rule: "memory_high",
      subject: "shop-worker-1",
      app: "shop",
      severity: "warning",
      state: "firing",
      summary: "shop-worker-1 (shop/worker) uses 470 MiB of its 512 MiB memory limit (92%)",
      details: {},
      fired_at_ms: now() - 40 * 60_000,
      resolved_at_ms: null,
      notices: 1,
    },
    {
      id: 1,
      rule: "deployment_failed",
      subject: "blog",
      app: "blog",
      severity: "critical",
      state: "resolved",
      summary: "the deployment of blog failed: pull: image not found",
      details: {},
      fired_at_ms: now() - 26 * 3600_000,
      resolved_at_ms: now() - 25 * 3600_000,
      notices: 2,
    },
  ];
  const unit: Record<AlertRule, string | null> = {
    deployment_failed: null,
    restart_loop: "exits",
    unhealthy: null,
    memory_high: "% of the limit",
    disk_low: "% free",
    certificate_expiring: "days left",
    backup_failed: null,
    backup_stale: "× the schedule",
  };
  const alertRules: AlertRuleSettings[] = (
    [
      ["deployment_failed", 0, 0, 0],
      ["restart_loop", 3, 600, 3600],
      ["unhealthy", 0, 60, 3600],
      ["memory_high", 90, 300, 3600],
      ["disk_low", 10, 0, 21600],
      ["certificate_expiring", 30, 0, 86400],
      ["backup_failed", 0, 0, 86400],
      ["backup_stale", 2, 0, 86400],
    ] as const
  ).map(([rule, threshold, window_secs, repeat_secs]) => ({ rule, enabled: true, threshold, window_secs, repeat_secs, threshold_unit: unit[rule] }));
  const channels: Channel[] = [];
  const snapshots: Snapshot[] = [];
  const backupRuns: BackupRun[] = [];
  let schedule: BackupSchedule | null = null;
  const scheduleStatus = (): ScheduleStatus => {
    const last = backupRuns.find((r) => r.kind === "backup" && r.state === "succeeded");
    return { schedule, last_success_ms: last?.finished_ms ?? null, next_ms: schedule ? now() + schedule.every_secs * 1000 : null };
  };
  /** Each server's backup repository: prod has none yet, to show how one is set. */
  const repositories: Record<string, { location: string; host_key: string | null }> = { local: { location: "/var/backups/appos", host_key: null } };
  /** The repositories that exist, with their keys: by location over SFTP, by server and path on a server. */
  const repositoryKeys = new Map<string, string>([["local /var/backups/appos", DEMO_BACKUP_KEY]]);
  const repositoryAt = (server: string, location: string) => (location.startsWith("sftp:") ? location : `${server} ${location}`);
  /** The keys this computer keeps (the desktop's keyring), by server and location. */
  const keptKeys = new Map<string, string>([["local /var/backups/appos", DEMO_BACKUP_KEY]]);
  /** The SFTP hosts that accept the agent's SSH key: each refuses it once, until its line is "added". */
  const sftpHosts = new Set<string>();
  const sshKeyOf = (server: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFpuxhDRvf8h7Dyb7/fCtVRMMG3gPnFPUtgNlhwY7F6k appos-agent@${server === "local" ? "demo" : server}`;
  /** As the agent refuses backup calls without a repository. */
  const needRepository = (server: string) => {
    if (!repositories[server]) throw { ...err("conflict", "No backup repository is set: set one with `appos backup repository PATH`"), problem: "no_repository" } satisfies UiError;
  };

  /** A backup or restore run: queued, a log line every few hundred ms, then done, with a `backup` event as the agent sends. */
  function backupRun(kind: BackupRun["kind"], app: string | null, volumes: boolean, snapshot: string | null): string {
    const id = `run-${backupRuns.length + 1}`;
    const r: BackupRun = { id, kind, app, volumes, state: "queued", snapshot, error: null, log: [], actor: "appos-desktop@demo", created_ms: now(), finished_ms: null };
    backupRuns.unshift(r);
    const written = Math.floor(now()).toString(16).slice(-8);
    const inside = app ? [app] : apps.filter((a) => a.managed).map((a) => a.name);
    const steps =
      kind === "backup"
        ? [
            "the agent's database: copied with SQLite's online backup",
            ...(volumes ? inside.map((a) => `volume ${a}_data of ${a}: ${(12 + a.length) * 1_048_576} bytes`) : []),
            `snapshot ${written}: ${inside.length} app(s)${volumes ? " with their volumes" : ""}`,
          ]
        : [`snapshot ${snapshot} read back (${inside.length} app(s) inside, agent 0.1.0)`, `${app}: versions 1 to 3, its deployments and domains are back`, `deployment d-restore of version 3 queued`];
    let at = 300;
    setTimeout(() => (r.state = "running"), at);
    for (const line of steps) setTimeout(() => r.log.push(line), (at += 450));
    setTimeout(() => {
      r.state = "succeeded";
      r.finished_ms = now();
      if (kind === "backup") {
        r.snapshot = written;
        snapshots.unshift({ id: written, time_ms: now(), host: "demo", apps: inside, volumes });
      }
      emit("backup", app, { run: id, kind, state: r.state, app });
    }, at + 300);
    return id;
  }

  type Answers = AgentCallResponse;
  /** One agent call; each answer is checked against its call's answer type. */
  async function answer(req: AgentCall, server: string): Promise<Answers[CallName]> {
    switch (req.call) {
      case "get_info":
        return structuredClone(info) satisfies Answers["get_info"];
      case "get_metrics":
        return `# TYPE appos_build_info gauge\nappos_build_info{version="${info.agent_version}"} 1\n# EOF\n` satisfies Answers["get_metrics"];
      case "list_apps":
        return structuredClone(apps) satisfies Answers["list_apps"];
      case "get_app":
        return find(req.args.app) satisfies Answers["get_app"];
      case "get_app_stats": {
        const a = find(req.args.app);
        const containers = a.services.flatMap((s) =>
          s.containers
            .filter((c) => c.state === "running")
            .map((c) => {
              const latest = { at_ms: Date.now(), cpu_percent: 1.5, memory_bytes: 48 << 20, memory_limit_bytes: 2048 << 20, net_rx_bytes: 1 << 20, net_tx_bytes: 256 << 10 };
              return { id: c.id, name: c.name, service: s.name, latest, history: [latest] };
            }),
        );
        return { app: a.name, containers } satisfies Answers["get_app_stats"];
      }
      case "list_catalog":
        return structuredClone(catalog) satisfies Answers["list_catalog"];
      case "get_template": {
        const t = catalog.find((c) => c.id === req.args.id);
        if (!t) throw err("not_found", `no template ${req.args.id}`);
        return structuredClone(t) satisfies Answers["get_template"];
      }
      case "refresh_catalog":
        return { templates: catalog.length, git_commit: null, git_error: null, skipped: [] } satisfies Answers["refresh_catalog"];
      case "deploy_app": {
        const r = req.args;
        if (apps.some((a) => a.name === r.name)) throw err("invalid_input", "invalid input", [{ field: "name", message: `an app named ${r.name} exists` }]);
        const granted = grant(needsOf(r.name, r.compose, r.catalog?.id ?? null), r.allow_host_access);
        const d = run(r.name, "deploy", 1);
        record("app.deploy", r.name, r.catalog ? `installed from the catalog template ${r.catalog.id} (version 1)` : "deployed version 1", granted);
        // Only a catalog template generates secrets.
        const generated: Record<string, string> = !r.catalog || r.catalog.params.DB_PASSWORD ? {} : { DB_PASSWORD: "q7Vn2pXkR4sL9wTzB1mC6hJd8fYgE3aU" };
        return { deployment_id: d.id, app: r.name, version: 1, generated } satisfies Answers["deploy_app"];
      }
      case "check_compose": {
        const r = req.args;
        if (r.compose.includes("latest")) throw err("invalid_input", "invalid input", [{ field: "services.web.image", message: "pin a version: :latest changes under you" }]);
        const services: Record<string, string> = {};
        for (const m of r.compose.matchAll(/^ {2}(\w[\w-]*):\n {4}image: (\S+)/gm)) services[m[1]] = m[2];
        return { services, host_access: needsOf(r.name, r.compose, r.catalog?.id ?? null) } satisfies Answers["check_compose"];
      }
      case "list_deployments": {
        const app = req.args.app;
        return structuredClone(deployments.filter((d) => !app || d.app === app)) satisfies Answers["list_deployments"];
      }
      case "get_deployment": {
        const d = deployments.find((x) => x.id === req.args.id);
        if (!d) throw err("other", "no such deployment");
        return structuredClone(d) satisfies Answers["get_deployment"];
      }
      case "cancel_deployment": {
        const d = deployments.find((x) => x.id === req.args.id)!;
        return structuredClone(d) satisfies Answers["cancel_deployment"];
      }
      case "run_app_action":
        return run(req.args.app, req.args.action, 2) satisfies Answers["run_app_action"];
      case "redeploy_app":
        return { app: req.args.app, version: 2, deployment_id: run(req.args.app, "deploy", 2).id } satisfies Answers["redeploy_app"];
      case "delete_app":
        return run(req.args.app, "delete", 0) satisfies Answers["delete_app"];
      case "list_versions":
        return structuredClone(versions) satisfies Answers["list_versions"];
      case "get_version": {
        const v = req.args.version;
        return { version: structuredClone(versions[v - 1]), compose: composes[v], env_keys: ["DB_PASSWORD", "MAIL_FROM"] } satisfies Answers["get_version"];
      }
      case "diff_versions":
        return "" satisfies Answers["diff_versions"];
      case "save_version": {
        const { app, request } = req.args;
        const host_access = grant(needsOf(app, request.compose, null), request.allow_host_access);
        const v = versions.length + 1;
        const files = request.files ? fileHashes(request.files) : { ...versions[versions.length - 1].files };
        versions.push({ version: v, author: "desktop", message: request.message ?? "", created_at: Math.floor(now() / 1000), digests: {}, host_access, files });
        composes[v] = request.compose;
        record("app.version", app, `saved version ${v}${request.deploy ? " and deployed it" : ""}`, host_access);
        return { app, version: v, deployment_id: request.deploy ? run(app, "deploy", v).id : null } satisfies Answers["save_version"];
      }
      case "rollback_app": {
        const { app, request } = req.args;
        const host_access = grant(needsOf(app, composes[request.version], null), request.allow_host_access);
        const v = versions.length + 1;
        const files = { ...versions[request.version - 1].files };
        versions.push({ version: v, author: "desktop", message: `rollback to ${request.version}`, created_at: Math.floor(now() / 1000), digests: {}, host_access, files });
        composes[v] = composes[request.version];
        record("app.rollback", app, `rolled back to version ${request.version} as version ${v}`, host_access);
        return { app, version: v, deployment_id: run(app, "deploy", v).id } satisfies Answers["rollback_app"];
      }
      case "adopt_app": {
        const project = req.args.project;
        const a = apps.find((p) => p.name === project);
        if (!a) throw err("other", `no compose project ${project}`);
        a.managed = true;
        return { app: project, version: 1, deployment_id: null } satisfies Answers["adopt_app"];
      }
      case "list_terminals":
        return listTerminals() satisfies Answers["list_terminals"];
      case "kill_terminal":
        killTerminal(req.args.id);
        return null satisfies Answers["kill_terminal"];
      case "open_terminal":
        // The desktop opens terminals with openTerminal, which streams them.
        throw err("other", "the demo opens terminals with openTerminal");
      case "list_tokens":
        return structuredClone(tokens) satisfies Answers["list_tokens"];
      case "list_audit": {
        const { app, before, limit } = req.args;
        const rows = audit.filter((e) => (!app || e.app === app) && (before === null || e.id < before)).sort((a, b) => b.id - a.id);
        return structuredClone(rows.slice(0, limit ?? 100)) satisfies Answers["list_audit"];
      }
      case "list_domains":
      case "reload_proxy":
        return listDomains() satisfies Answers["list_domains"];
      case "add_domain": {
        const name = req.args.domain.trim().toLowerCase().replace(/\.$/, "");
        const m = /^([^/:]+)(?:\/([^:]+))?:(\d+)$/.exec(req.args.target);
        const fields: UiError["fields"] = [];
        if (!DOMAIN_RE.test(name)) fields.push({ field: "domain", message: name.includes(".") ? `${JSON.stringify(name)} is not a valid domain name` : `${JSON.stringify(name)} needs at least two labels, such as blog.example.com` });
        const a = m ? apps.find((x) => x.name === m[1]) : undefined;
        if (!m) fields.push({ field: "target", message: "a target is APP[/SERVICE]:PORT, such as blog/web:80" });
        else if (!a) fields.push({ field: "target", message: `no app or compose project is named ${JSON.stringify(m[1])}` });
        else if (m[2] && !a.services.some((x) => x.name === m[2])) fields.push({ field: "target", message: `${a.name} has no service ${JSON.stringify(m[2])} (it has ${a.services.map((x) => x.name).join(", ")})` });
        if (fields.length || !m || !a) throw err("invalid_input", "invalid input", fields);
        const taken = domains.find((d) => d.domain === name);
        if (taken) throw err("conflict", `The domain is taken: ${name} already points at ${taken.app}/${taken.service}:${taken.port}; remove it first`);
        const service = m[2] ?? a.services[0].name;
        const d: Domain = { domain: name, app: a.name, service, port: Number(m[3]), ssl: req.args.ssl, force_https: req.args.force_https, redirect_to: null, certificate: req.args.ssl ? { state: "pending", reason: "the certificate is being ordered" } : { state: "none" } };
        if (req.args.ssl) issuedAt.set(name, now() + 15_000);
        domains.push(d);
        return structuredClone(d) satisfies Answers["add_domain"];
      }
      case "remove_domain": {
        const i = domains.findIndex((d) => d.domain === req.args.domain);
        if (i < 0) throw err("not_found", `no domain ${req.args.domain} is served here`);
        domains.splice(i, 1);
        return null satisfies Answers["remove_domain"];
      }
      // Certificates beyond the proxy's domains: not in the demo yet.
      case "list_certs":
        return listDomains()
          .filter((d) => d.ssl)
          .map((d) => ({ subject: d.domain, source: "domain" as const, status: d.certificate })) satisfies Answers["list_certs"];
      case "upload_certificate":
      case "renew_certificate":
      case "watch_endpoint":
      case "unwatch_endpoint":
        throw err("other", `the demo does not answer ${req.call} yet`);
      case "list_alerts":
        return structuredClone(req.args.firing ? alerts.filter((a) => a.state === "firing") : alerts) satisfies Answers["list_alerts"];
      case "list_alert_rules":
        return structuredClone(alertRules) satisfies Answers["list_alert_rules"];
      case "update_alert_rule": {
        const r = alertRules.find((x) => x.rule === req.args.rule);
        if (!r) throw err("not_found", `no rule ${req.args.rule}`);
        const u = req.args.update;
        Object.assign(r, {
          enabled: u.enabled ?? r.enabled,
          threshold: u.threshold ?? r.threshold,
          window_secs: u.window_secs ?? r.window_secs,
          repeat_secs: u.repeat_secs ?? r.repeat_secs,
        });
        return structuredClone(r) satisfies Answers["update_alert_rule"];
      }
      case "list_channels":
        return structuredClone(channels) satisfies Answers["list_channels"];
      case "add_channel": {
        if (channels.some((c) => c.name === req.args.name)) throw err("conflict", `a channel named ${req.args.name} exists; remove it first`);
        const c = { name: req.args.name, kind: req.args.config.kind, target: "demo", created_at: Math.floor(now() / 1000), configured: false };
        channels.push(c);
        return structuredClone(c) satisfies Answers["add_channel"];
      }
      case "remove_channel":
      case "test_channel":
        if (!channels.some((c) => c.name === req.args.name)) throw err("not_found", `no alert channel named ${req.args.name}`);
        if (req.call === "remove_channel") channels.splice(channels.findIndex((c) => c.name === req.args.name), 1);
        return null satisfies Answers["remove_channel"];
      case "list_snapshots":
        needRepository(server);
        return structuredClone(snapshots) satisfies Answers["list_snapshots"];
      case "create_backup":
        needRepository(server);
        return { id: backupRun("backup", req.args.app ?? null, req.args.volumes, null) } satisfies Answers["create_backup"];
      case "restore_backup": {
        needRepository(server);
        const app = req.args.request.app ?? null;
        // As the agent: a restore never overwrites an app.
        if (apps.some((a) => a.name === app))
          throw { ...err("conflict", `The app exists: ${app} exists here: a restore never overwrites an app; delete it first`), problem: "app_exists" } satisfies UiError;
        const snap = snapshots.find((x) => x.id === req.args.snapshot);
        if (!snap) throw err("not_found", `No such snapshot: the repository holds no snapshot ${req.args.snapshot}`);
        return { id: backupRun("restore", app, snap.volumes, snap.id) } satisfies Answers["restore_backup"];
      }
      case "list_backup_runs":
        return structuredClone(backupRuns) satisfies Answers["list_backup_runs"];
      case "get_backup_schedule":
        return structuredClone(scheduleStatus()) satisfies Answers["get_backup_schedule"];
      case "get_backup_repository": {
        const r = repositories[server];
        return { location: r?.location ?? null, host_key: r?.host_key ?? null, ssh_public_key: sshKeyOf(server) } satisfies Answers["get_backup_repository"];
      }
      case "set_backup_schedule":
        needRepository(server);
        if (req.args.keep < 1 || req.args.keep > 1000) throw err("invalid_input", "Invalid input: keep: from 1 to 1000 snapshots", [{ field: "keep", message: "from 1 to 1000 snapshots" }]);
        schedule = req.args;
        return structuredClone(scheduleStatus()) satisfies Answers["set_backup_schedule"];
      case "clear_backup_schedule":
        schedule = null;
        return structuredClone(scheduleStatus()) satisfies Answers["clear_backup_schedule"];
      case "get_backup_run": {
        const r = backupRuns.find((x) => x.id === req.args.id);
        if (!r) throw err("not_found", `no backup or restore run ${req.args.id}`);
        return structuredClone(r) satisfies Answers["get_backup_run"];
      }
    }
  }

  const servers: ServerEntry[] = [
    { name: "local", url: "local", local: true, host_key: null, connected: true },
    { name: "prod", url: "ssh://root@203.0.113.10:22", local: false, host_key: "SHA256:x", connected: true },
  ];
  // Each server's agent version: this computer's comes with the app.
  const agentVersions: Record<string, string> = { local: DESKTOP_VERSION, prod: info.agent_version };
  const connection = (name: string): Connection => ({
    server: name,
    via: name === "local" ? "local agent" : "ssh://root@203.0.113.10:22 → /var/lib/appos/run/agent.sock",
    info: { ...structuredClone(info), agent_version: agentVersions[name] ?? DESKTOP_VERSION },
  });
  /** Sends the demo agent image, as an install or upgrade does when the server lacks it. */
  const sendImage = async (onProgress: (p: InstallProgress) => void) => {
    onProgress({ type: "step", message: "saving the image from this computer's Docker" });
    await sleep(1200);
    const total = 131_457_024;
    for (let sent = 0; sent < total; sent = Math.min(total, sent + 6_291_456)) {
      onProgress({ type: "upload", sent, total });
      await sleep(120);
    }
    onProgress({ type: "upload", sent: total, total });
  };
  const checkForm = (form: InstallForm) => {
    if (!form.data.trim().startsWith("/")) throw err("invalid_input", `the data root must be an absolute path on the server, not "${form.data.trim()}"`);
  };

  return {
    listServers: async (): Promise<ServerEntry[]> => [...servers],
    // Every new server of the demo lacks the agent, to show the install.
    addServer: async (form) => {
      await sleep(600);
      if (servers.some((s) => s.name === form.name)) throw err("conflict", `a server named ${form.name} exists already`);
      throw err(
        "agent_missing",
        `\`appos-agent\` was not found on ${form.user}@${form.host}:${form.port}: install the AppOS agent there, or pass the command that runs it (--bootstrap-cmd)`,
      );
    },
    installCheck: async (form) => {
      await sleep(900);
      checkForm(form);
      return demoChecklist(form);
    },
    installServer: async (form, onProgress) => {
      checkForm(form);
      await sleep(700);
      onProgress({ type: "checked", checks: demoChecklist(form) });
      await sleep(300);
      await sendImage(onProgress);
      onProgress({ type: "step", message: `image appos/agent:${DESKTOP_VERSION} is on the server` });
      await sleep(400);
      onProgress({ type: "step", message: "the agent's container is starting" });
      await sleep(1500);
      onProgress({ type: "step", message: `the agent answers (ok ${DESKTOP_VERSION})` });
      await sleep(300);
      const entry: ServerEntry = { name: form.server.name, url: sshUrl(form.server), local: false, host_key: form.server.accept_fingerprint ?? "SHA256:demo", connected: false };
      servers.push(entry);
      agentVersions[entry.name] = DESKTOP_VERSION;
      return entry;
    },
    desktopVersion: async () => DESKTOP_VERSION,
    hasGpu: async () => true,
    upgradeServer: async (name, onProgress) => {
      const s = servers.find((x) => x.name === name);
      if (!s) throw err("not_found", `no server named ${name}`);
      if (s.local) throw err("invalid_input", `${name} is not reached over SSH: only an agent installed over SSH is upgraded from here`);
      const old = agentVersions[name] ?? info.agent_version;
      await sleep(600);
      await sendImage(onProgress);
      onProgress({ type: "step", message: `image appos/agent:${DESKTOP_VERSION} is on the server; replacing appos/agent:${old}` });
      await sleep(2500);
      agentVersions[name] = DESKTOP_VERSION;
      return connection(name);
    },
    removeServer: async (name) => {
      const i = servers.findIndex((s) => s.name === name);
      if (i >= 0) servers.splice(i, 1);
    },
    connect: async (name): Promise<Connection> => connection(name),
    call: <K extends CallName>(server: string, req: CallOf<K>) => answer(req, server) as Promise<AgentCallResponse[K]>,
    openStream: async (_s, req, fn): Promise<StreamHandle> => {
      const entry = { req, fn };
      streams.add(entry);
      let timer: ReturnType<typeof setInterval> | null = null;
      if (req.type === "deployment_log") {
        setTimeout(() => {
          for (const line of logs.get(req.id) ?? []) fn({ type: "deployment_log", line });
          const d = deployments.find((x) => x.id === req.id);
          if (d && d.finished_ms) fn({ type: "end", error: null });
        }, 10);
      }
      if (req.type === "app_logs") {
        const app = apps.find((a) => a.name === req.app);
        const services = (app?.services ?? []).map((s) => s.name).filter((s) => !req.service || s === req.service);
        const re = req.grep ? new RegExp(req.grep) : null;
        let n = 0;
        const make = () => {
          const service = services[n % services.length] ?? "web";
          const stderr = n % 7 === 3;
          const text = stderr ? `WARN slow query took ${200 + n} ms` : `GET /posts/${n} 200 ${(n * 7) % 90} ms`;
          n++;
          return { service, container: `${req.app}-${service}-1`, stream: stderr ? "stderr" : "stdout", text, at_us: Date.now() * 1000 };
        };
        setTimeout(() => {
          for (let i = 0; i < 60; i++) {
            const line = make();
            if (!re || re.test(line.text)) fn({ type: "app_log", line });
          }
          if (!req.follow) fn({ type: "end", error: null });
        }, 10);
        if (req.follow)
          timer = setInterval(() => {
            const line = make();
            if (!re || re.test(line.text)) fn({ type: "app_log", line });
          }, 800);
      }
      return {
        close: () => {
          streams.delete(entry);
          if (timer) clearInterval(timer);
        },
      };
    },
    notify: async (title, body) => {
      console.info(`[notification] ${title} — ${body}`);
    },
    openUrl: async (url) => {
      window.open(url, "_blank", "noopener");
    },
    readProject: async (path) => {
      await new Promise((r) => setTimeout(r, 300));
      return demoProject(path);
    },
    // As the desktop and the agent: a kept key is given when none is; a new
    // repository's key is generated and answered once; the key is kept.
    setBackupRepository: async (server, request) => {
      await sleep(900);
      const invalid = (field: string, message: string) => err("invalid_input", `Invalid input: ${field}: ${message}`, [{ field, message }]);
      const location = request.location;
      const sftp = demoSftpTarget(location);
      if (!sftp && (!location.startsWith("/") || /\s/.test(location) || location.split("/").includes("..")))
        throw invalid("location", "an absolute path on the server, or sftp:USER@HOST:/PATH (sftp://USER@HOST:PORT//PATH for another port)");
      if (request.key && request.key.length < 16) throw invalid("key", "at least 16 characters");
      if (request.host_key && !sftp) throw invalid("host_key", "only for an sftp: repository");
      let host_key: string | null = null;
      if (sftp) {
        if (request.host_key && !/^SHA256:[A-Za-z0-9+/]{43}$/.test(request.host_key)) throw invalid("host_key", "a fingerprint as `ssh-keygen -l` prints it: SHA256: and 43 characters");
        const shown = demoFingerprint(sftp.host);
        if (request.host_key && request.host_key !== shown) throw invalid("host_key", `${sftp.host}:${sftp.port} shows ${shown} (ssh-ed25519), not ${request.host_key}`);
        if (!sftpHosts.has(sftp.host)) {
          sftpHosts.add(sftp.host);
          throw invalid("location", `${sftp.host} refused the agent's SSH key: add this line to ${sftp.user}'s ~/.ssh/authorized_keys there: ${sshKeyOf(server)}`);
        }
        host_key = shown;
      }
      const account = `${server} ${location}`;
      const kept = request.key ? null : (keptKeys.get(account) ?? null);
      const key = request.key ?? kept;
      const at = repositoryAt(server, location);
      const existing = repositoryKeys.get(at);
      let generated: string | null = null;
      if (existing !== undefined) {
        if (!key) throw { ...err("conflict", `A repository exists there: a repository exists at ${location}: give its key`), problem: "repository_exists" } satisfies UiError;
        if (key !== existing) throw invalid("key", `the key does not open the repository at ${location}`);
      } else {
        generated = key ? null : newBackupKey();
        repositoryKeys.set(at, key ?? generated!);
      }
      repositories[server] = { location, host_key };
      const keep = generated ?? key;
      if (keep) keptKeys.set(account, keep);
      return { repository: { location, created: existing === undefined, key: generated, host_key }, key_kept: keep ? "keyring" : null, used_kept_key: !!kept };
    },
    backupKey: async (server) => {
      const r = repositories[server];
      return r ? (keptKeys.get(`${server} ${r.location}`) ?? null) : null;
    },
    ...terminalApi,
  };
}
