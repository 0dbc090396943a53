import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { App, Domain } from "../api/types.gen";
import type { UiError } from "../api/desktop.gen";
import { DOMAINS_POLL_MS } from "../lib/domains";
import { app, domain, FakeBackend, info, uiError } from "../test/fakeBackend";
import { byId, connected, renderServer } from "../test/render";

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const days = (n: number) => Math.floor(Date.now() / 1000) + n * 86400;
/** What the desktop gets for the agent's `no_proxy` problem. */
const noProxy: UiError = { ...uiError("conflict", "No reverse proxy runs here: this agent runs no reverse proxy; set APPOS_PROXY_HTTP and APPOS_PROXY_HTTPS"), problem: "no_proxy" };

/** blog: ghost on 2368 (and a db); shop: one service with two ports. */
function blog(over: Partial<App> = {}): App {
  return app("blog", {
    services: [
      { name: "web", containers: [{ id: "b1", name: "blog-web-1", image: "ghost:5", state: "running", status: "Up", ports: [{ private_port: 2368, public_port: 8080, ip: "0.0.0.0", protocol: "tcp" }] }] },
      { name: "db", containers: [{ id: "b2", name: "blog-db-1", image: "mysql:8.4", state: "running", status: "Up", ports: [] }] },
    ],
    ...over,
  });
}
function shop(): App {
  return app("shop", {
    managed: false,
    services: [
      {
        name: "front",
        containers: [
          {
            id: "s1",
            name: "shop-front-1",
            image: "nginx:1.27",
            state: "running",
            status: "Up",
            ports: [
              { private_port: 443, public_port: null, ip: null, protocol: "tcp" },
              { private_port: 80, public_port: 8081, ip: "0.0.0.0", protocol: "tcp" },
              { private_port: 5353, public_port: null, ip: null, protocol: "udp" },
            ],
          },
        ],
      },
    ],
  });
}

/** A fake whose domains change with add_domain and remove_domain, as the agent's do. */
function setup(initial: Domain[] = []) {
  const b = new FakeBackend();
  b.apps.local = [blog(), shop()];
  b.on("get_app", ({ app: name }) => (b.apps.local as App[]).find((a) => a.name === name) ?? uiError("not_found", `no app ${name}`));
  const served = [...initial];
  b.on("list_domains", () => structuredClone(served));
  b.on("add_domain", (req) => {
    const [left, port] = req.target.split(":");
    const [a, service] = left.split("/");
    const d = domain(req.domain, { app: a, service, port: Number(port), ssl: req.ssl, force_https: req.force_https, certificate: { state: "pending", reason: "the certificate is being ordered" } });
    served.push(d);
    return d;
  });
  b.on("remove_domain", ({ domain: name }) => {
    const i = served.findIndex((d) => d.domain === name);
    if (i < 0) return uiError("not_found", `No such domain: no domain ${name} is served here`);
    served.splice(i, 1);
    return null;
  });
  return { b, served };
}

async function openAdd() {
  const add = await screen.findByTestId("domains-add");
  await act(async () => fireEvent.click(add));
  return screen.findByTestId("add-domain-dialog");
}

const value = (id: string) => (byId(id) as HTMLInputElement | HTMLSelectElement).value;

describe("Domains tab", () => {
  it("lists each domain with its target, HTTPS and certificate state", async () => {
    const { b } = setup([
      domain("plain.example.com", { ssl: false, force_https: false, certificate: { state: "none" } }),
      domain("new.example.com", { certificate: { state: "pending", reason: "no DNS record points at this server yet" } }),
      domain("blog.example.com", { certificate: { state: "valid", issuer: "R11", not_after: days(61), days_left: 61 } }),
      domain("soon.example.com", { force_https: false, certificate: { state: "expiring", issuer: "R10", not_after: days(9), days_left: 9 } }),
      domain("urgent.example.com", { certificate: { state: "expiring", issuer: "R10", not_after: days(1), days_left: 1 } }),
      domain("broken.example.com", { app: "shop", service: "front", port: 80, certificate: { state: "failed", reason: "the certificate served is for shop.example.net, not broken.example.com" } }),
    ]);
    renderServer(b, { view: "domains" });
    await screen.findByTestId("domain-row-blog.example.com");
    expect(byId("domains-proxy").textContent).toBe("Proxy: caddy on 0.0.0.0:80 and 0.0.0.0:443");

    // Sorted by name.
    expect(screen.getAllByTestId(/^domain-row-/).map((r) => r.dataset.testid)).toEqual([
      "domain-row-blog.example.com",
      "domain-row-broken.example.com",
      "domain-row-new.example.com",
      "domain-row-plain.example.com",
      "domain-row-soon.example.com",
      "domain-row-urgent.example.com",
    ]);

    const cert = (d: string) => byId(`domain-cert-${d}`);
    const detail = (d: string) => screen.queryByTestId(`domain-cert-${d}-detail`)?.textContent ?? null;
    expect(cert("plain.example.com").textContent).toBe("HTTP only");
    expect(cert("plain.example.com").className).toContain("zinc");
    expect(detail("plain.example.com")).toBeNull();
    expect(cert("new.example.com").textContent).toBe("pending");
    expect(cert("new.example.com").className).toContain("amber");
    expect(detail("new.example.com")).toBe("no DNS record points at this server yet");
    expect(cert("blog.example.com").textContent).toBe("valid · 61 days left");
    expect(cert("blog.example.com").className).toContain("emerald");
    expect(cert("blog.example.com").title).toContain("Issued by R11");
    expect(detail("blog.example.com")).toBe("R11");
    expect(cert("soon.example.com").textContent).toBe("expires in 9 days");
    expect(cert("soon.example.com").className).toContain("amber");
    expect(cert("urgent.example.com").textContent).toBe("expires in 1 day");
    expect(cert("urgent.example.com").className).toContain("red");
    expect(cert("broken.example.com").textContent).toBe("failed");
    expect(cert("broken.example.com").className).toContain("red");
    expect(detail("broken.example.com")).toBe("the certificate served is for shop.example.net, not broken.example.com");

    expect(byId("domain-target-blog.example.com").textContent).toBe("blog/web:2368");
    expect(byId("domain-target-broken.example.com").textContent).toBe("shop/front:80");
    expect(byId("domain-https-blog.example.com").textContent).toBe("yes · HTTP redirected");
    expect(byId("domain-https-soon.example.com").textContent).toBe("yes · HTTP served too");
    expect(byId("domain-https-plain.example.com").textContent).toBe("no");
    expect(byId("domains-summary").textContent).toContain("6 domains");
    expect(byId("domains-summary").textContent).toContain("3 certificates need attention");

    // Expiring and failed certificates show on the tab bar.
    const alerts = byId("nav-domains-alerts");
    expect(alerts.textContent).toBe("3");
    expect(alerts.dataset.tone).toBe("red");
    expect(alerts.title).toBe("Certificates: 1 failed, 2 expiring");
  });

  it("opens a domain in the browser and its app from the target", async () => {
    const { b } = setup([domain("blog.example.com"), domain("plain.example.com", { ssl: false, force_https: false, certificate: { state: "none" } })]);
    renderServer(b, { view: "domains" });
    fireEvent.click(await screen.findByTestId("domain-link-blog.example.com"));
    fireEvent.click(byId("domain-link-plain.example.com"));
    expect(b.callsOf("openUrl")).toEqual([["https://blog.example.com"], ["http://plain.example.com"]]);
    fireEvent.click(byId("domain-app-blog.example.com"));
    await waitFor(() => expect(byId("app-title").textContent).toBe("blog"));
  });

  it("shows the badge on the tab bar from any section, amber when only expiring", async () => {
    const { b } = setup([domain("soon.example.com", { certificate: { state: "expiring", issuer: "R10", not_after: days(20), days_left: 20 } }), domain("blog.example.com")]);
    renderServer(b);
    await connected(b);
    const alerts = await screen.findByTestId("nav-domains-alerts");
    expect(alerts.textContent).toBe("1");
    expect(alerts.dataset.tone).toBe("amber");
    expect(byId("nav-domains").textContent).toBe("Domains1");
  });

  it("shows no badge when every certificate is fine", async () => {
    const { b } = setup([domain("blog.example.com"), domain("plain.example.com", { ssl: false, certificate: { state: "none" } })]);
    renderServer(b, { view: "domains" });
    await screen.findByTestId("domain-row-blog.example.com");
    expect(screen.queryByTestId("nav-domains-alerts")).toBeNull();
  });

  it("adds a domain: exactly the target picked, then its row", async () => {
    const { b } = setup();
    renderServer(b, { view: "domains" });
    expect((await screen.findByText("No domains yet")).textContent).toBeTruthy();
    const dialog = await openAdd();

    // Every app, created outside AppOS or not.
    await waitFor(() => expect(within(byId("add-domain-app")).getAllByRole("option").map((o) => o.textContent)).toEqual(["Pick an app", "blog", "shop (created outside AppOS)"]));
    fireEvent.change(byId("add-domain-app"), { target: { value: "blog" } });
    // The service with a known port, and that port.
    expect(value("add-domain-service")).toBe("web");
    expect(within(byId("add-domain-service")).getAllByRole("option").map((o) => o.textContent)).toEqual(["web", "db"]);
    expect(within(byId("add-domain-port")).getAllByRole("option").map((o) => o.textContent)).toEqual(["2368", "other…"]);
    expect(value("add-domain-port")).toBe("2368");
    expect((byId("add-domain-ssl") as HTMLInputElement).checked).toBe(true);
    expect((byId("add-domain-force-https") as HTMLInputElement).checked).toBe(true);
    fireEvent.change(byId("add-domain-domain"), { target: { value: " blog.example.com " } });
    expect(byId("add-domain-target").textContent).toContain("blog/web:2368");

    await act(async () => fireEvent.click(within(dialog).getByTestId("add-domain-submit")));
    expect(b.callsOf("add_domain")).toEqual([["local", { domain: "blog.example.com", target: "blog/web:2368", redirect_to: null, ssl: true, force_https: true, skip_preflight: false }]]);
    await waitFor(() => expect(screen.queryByTestId("add-domain-dialog")).toBeNull());
    const row = await screen.findByTestId("domain-row-blog.example.com");
    expect(row.textContent).toContain("blog/web:2368");
    expect(byId("domain-cert-blog.example.com").textContent).toBe("pending");
    expect(byId("domain-cert-blog.example.com-detail").textContent).toBe("the certificate is being ordered");
  });

  it("offers the service's ports or any other, and sends no redirect without HTTPS", async () => {
    const { b } = setup();
    renderServer(b, { view: "domains" });
    await openAdd();
    await waitFor(() => expect(within(byId("add-domain-app")).getAllByRole("option")).toHaveLength(3));
    fireEvent.change(byId("add-domain-app"), { target: { value: "shop" } });
    // TCP ports only, ascending.
    expect(within(byId("add-domain-port")).getAllByRole("option").map((o) => o.textContent)).toEqual(["80", "443", "other…"]);
    expect(value("add-domain-port")).toBe("80");
    expect(screen.queryByTestId("add-domain-port-other")).toBeNull();
    fireEvent.change(byId("add-domain-port"), { target: { value: "other" } });
    fireEvent.change(byId("add-domain-port-other"), { target: { value: "8443" } });

    // A service with no known port: free entry only.
    fireEvent.change(byId("add-domain-app"), { target: { value: "blog" } });
    fireEvent.change(byId("add-domain-service"), { target: { value: "db" } });
    expect(screen.queryByTestId("add-domain-port")).toBeNull();
    expect(value("add-domain-port-other")).toBe("8443");
    fireEvent.change(byId("add-domain-service"), { target: { value: "web" } });
    fireEvent.change(byId("add-domain-port"), { target: { value: "other" } });
    fireEvent.change(byId("add-domain-port-other"), { target: { value: "70000" } });
    fireEvent.change(byId("add-domain-domain"), { target: { value: "https://blog.example.com/" } });
    await act(async () => fireEvent.click(byId("add-domain-submit")));
    expect(byId("add-domain-domain-error").textContent).toContain("no https://");
    expect(byId("add-domain-port-error").textContent).toBe("A port is a number from 1 to 65535.");
    expect(b.callsOf("add_domain")).toHaveLength(0);

    fireEvent.change(byId("add-domain-domain"), { target: { value: "blog.example.com" } });
    fireEvent.change(byId("add-domain-port-other"), { target: { value: "2369" } });
    fireEvent.click(byId("add-domain-ssl"));
    const redirect = byId("add-domain-force-https") as HTMLInputElement;
    expect(redirect.disabled).toBe(true);
    expect(redirect.checked).toBe(false);
    await act(async () => fireEvent.click(byId("add-domain-submit")));
    expect(b.callsOf("add_domain")).toEqual([["local", { domain: "blog.example.com", target: "blog/web:2369", redirect_to: null, ssl: false, force_https: false, skip_preflight: false }]]);
    await screen.findByTestId("domain-row-blog.example.com");
    expect(byId("domain-cert-blog.example.com").textContent).toBe("pending");
  });

  it("orders without the preflight only when asked, and never without HTTPS", async () => {
    const { b } = setup();
    renderServer(b, { view: "domains" });
    await openAdd();
    await waitFor(() => expect(within(byId("add-domain-app")).getAllByRole("option")).toHaveLength(3));
    fireEvent.change(byId("add-domain-app"), { target: { value: "blog" } });
    const skip = byId("add-domain-skip-preflight") as HTMLInputElement;
    // Off by default, with HTTPS on.
    expect(skip.checked).toBe(false);
    expect(skip.disabled).toBe(false);
    expect(skip.closest("label")!.textContent).toBe("Order even if the domain does not point here yet");
    expect(byId("add-domain-skip-preflight-help").textContent).toBe(
      "Normally AppOS first checks that the domain reaches this server, so that the certificate authority's rate limits are not spent on an order that would fail.",
    );

    fireEvent.click(skip);
    expect(skip.checked).toBe(true);
    fireEvent.change(byId("add-domain-domain"), { target: { value: "blog.example.com" } });
    await act(async () => fireEvent.click(byId("add-domain-submit")));
    expect(b.callsOf("add_domain")).toEqual([["local", { domain: "blog.example.com", target: "blog/web:2368", redirect_to: null, ssl: true, force_https: true, skip_preflight: true }]]);
    await screen.findByTestId("domain-row-blog.example.com");

    // Checked, then HTTPS turned off: disabled, unchecked, and not sent.
    await openAdd();
    await waitFor(() => expect(within(byId("add-domain-app")).getAllByRole("option")).toHaveLength(3));
    fireEvent.change(byId("add-domain-app"), { target: { value: "blog" } });
    const again = byId("add-domain-skip-preflight") as HTMLInputElement;
    expect(again.checked).toBe(false);
    fireEvent.click(again);
    expect(again.checked).toBe(true);
    fireEvent.click(byId("add-domain-ssl"));
    expect(again.disabled).toBe(true);
    expect(again.checked).toBe(false);
    fireEvent.change(byId("add-domain-domain"), { target: { value: "plain.example.com" } });
    await act(async () => fireEvent.click(byId("add-domain-submit")));
    expect(b.callsOf("add_domain")[1]).toEqual(["local", { domain: "plain.example.com", target: "blog/web:2368", redirect_to: null, ssl: false, force_https: false, skip_preflight: false }]);
    await screen.findByTestId("domain-row-plain.example.com");
  });

  it("offers to order anyway only when the preflight held the order back, and asks first", async () => {
    const why = "blog.example.com does not resolve to any address; point its DNS A/AAAA record at this server, or skip the preflight";
    const { b } = setup([
      domain("blog.example.com", { certificate: { state: "failed", reason: `preflight: ${why}` } }),
      domain("refused.example.com", { certificate: { state: "failed", reason: "the CA refused: too many certificates already issued for example.com" } }),
      domain("checking.example.com", { certificate: { state: "pending", reason: "checking that checking.example.com reaches this server before ordering" } }),
      domain("fine.example.com"),
    ]);
    b.on("renew_certificate", ({ domain: name }) => domain(name, { certificate: { state: "pending", reason: "the certificate is being ordered" } }));
    renderServer(b, { view: "domains" });
    await screen.findByTestId("domain-row-blog.example.com");
    expect(byId("domain-cert-blog.example.com-detail").textContent).toBe(`preflight: ${why}`);
    // One button, in the preflight's row only.
    const buttons = screen.getAllByTestId("domain-order-anyway");
    expect(buttons).toHaveLength(1);
    expect(buttons[0].textContent).toBe("Order anyway");
    expect(buttons[0].dataset.domain).toBe("blog.example.com");
    expect(within(byId("domain-row-blog.example.com")).getByTestId("domain-order-anyway")).toBe(buttons[0]);
    for (const d of ["refused.example.com", "checking.example.com", "fine.example.com"]) expect(within(byId(`domain-row-${d}`)).queryByTestId("domain-order-anyway")).toBeNull();

    // Cancelled: nothing ordered.
    await act(async () => fireEvent.click(buttons[0]));
    const dialog = byId("order-anyway-dialog");
    expect(dialog.textContent).toContain("Order a certificate for blog.example.com anyway?");
    expect(byId("order-anyway-reason").textContent).toBe(`The check that blog.example.com reaches this server failed: ${why}.`);
    expect(dialog.textContent).not.toContain("preflight:");
    expect(dialog.textContent).toContain("Ordering anyway may fail at the certificate authority, and a failed order counts against its rate limits.");
    await act(async () => fireEvent.click(byId("order-anyway-cancel")));
    expect(screen.queryByTestId("order-anyway-dialog")).toBeNull();
    expect(b.callsOf("renew_certificate")).toHaveLength(0);

    // Confirmed: ordered without the check, and the row shows what the agent answered.
    await act(async () => fireEvent.click(byId("domain-order-anyway")));
    await act(async () => fireEvent.click(byId("order-anyway-confirm")));
    expect(b.callsOf("renew_certificate")).toEqual([["local", { domain: "blog.example.com", skip_preflight: true }]]);
    await waitFor(() => expect(screen.queryByTestId("order-anyway-dialog")).toBeNull());
    expect(byId("domain-cert-blog.example.com").textContent).toBe("pending");
    expect(byId("domain-cert-blog.example.com-detail").textContent).toBe("the certificate is being ordered");
    expect(screen.queryByTestId("domain-order-anyway")).toBeNull();
  });

  it("shows a refused order in its dialog", async () => {
    const { b } = setup([domain("blog.example.com", { certificate: { state: "failed", reason: "preflight: 203.0.113.7 did not answer on port 80" } })]);
    b.on("renew_certificate", uiError("other", "The proxy refused the configuration: admin endpoint unavailable"));
    renderServer(b, { view: "domains" });
    const order = await screen.findByTestId("domain-order-anyway");
    await act(async () => fireEvent.click(order));
    expect(byId("order-anyway-reason").textContent).toBe("The check that blog.example.com reaches this server failed: 203.0.113.7 did not answer on port 80.");
    await act(async () => fireEvent.click(byId("order-anyway-confirm")));
    const err = await screen.findByTestId("order-anyway-error");
    expect(err.textContent).toContain("Could not order a certificate for blog.example.com");
    expect(err.textContent).toContain("admin endpoint unavailable");
    expect(b.callsOf("renew_certificate")).toEqual([["local", { domain: "blog.example.com", skip_preflight: true }]]);
    expect(byId("domain-cert-blog.example.com").textContent).toBe("failed");
  });

  it("puts the agent's field errors under the domain and target inputs", async () => {
    const { b } = setup();
    b.on(
      "add_domain",
      uiError("invalid_input", "invalid input", [
        { field: "domain", message: '"localhost" needs at least two labels, such as blog.example.com' },
        { field: "target", message: 'blog has no service "web" (it has app, db)' },
      ]),
    );
    renderServer(b, { view: "domains" });
    await openAdd();
    await waitFor(() => expect(within(byId("add-domain-app")).getAllByRole("option")).toHaveLength(3));
    fireEvent.change(byId("add-domain-app"), { target: { value: "blog" } });
    fireEvent.change(byId("add-domain-domain"), { target: { value: "localhost" } });
    await act(async () => fireEvent.click(byId("add-domain-submit")));

    expect((await screen.findByTestId("add-domain-domain-error")).textContent).toBe('"localhost" needs at least two labels, such as blog.example.com');
    expect(byId("add-domain-target-error").textContent).toBe('blog has no service "web" (it has app, db)');
    expect(byId("add-domain-domain").getAttribute("aria-invalid")).toBe("true");
    expect(byId("add-domain-service").getAttribute("aria-invalid")).toBe("true");
    // Said where it belongs, not again in an alert.
    expect(screen.queryByTestId("add-domain-error")).toBeNull();
    expect(byId("add-domain-dialog")).toBeTruthy();

    // Typing a new name clears its message.
    fireEvent.change(byId("add-domain-domain"), { target: { value: "blog.example.com" } });
    expect(screen.queryByTestId("add-domain-domain-error")).toBeNull();
  });

  it("shows a taken domain in the form", async () => {
    const { b } = setup();
    b.on("add_domain", uiError("conflict", "The domain is taken: blog.example.com already points at shop/front:80; remove it first"));
    renderServer(b, { view: "domains" });
    await openAdd();
    await waitFor(() => expect(within(byId("add-domain-app")).getAllByRole("option")).toHaveLength(3));
    fireEvent.change(byId("add-domain-app"), { target: { value: "blog" } });
    fireEvent.change(byId("add-domain-domain"), { target: { value: "blog.example.com" } });
    await act(async () => fireEvent.click(byId("add-domain-submit")));
    const err = await screen.findByTestId("add-domain-error");
    expect(err.textContent).toContain("Could not add the domain");
    expect(err.textContent).toContain("already points at shop/front:80");
    expect(screen.queryByTestId("domains-no-proxy")).toBeNull();
  });

  it("asks before removing a domain, then sends remove_domain", async () => {
    const { b } = setup([domain("blog.example.com"), domain("www.example.com")]);
    renderServer(b, { view: "domains" });
    const remove = await screen.findByTestId("domain-remove-blog.example.com");
    await act(async () => fireEvent.click(remove));
    const dialog = byId("remove-domain-dialog");
    expect(dialog.textContent).toContain("Remove blog.example.com?");
    expect(dialog.textContent).toContain("blog/web:2368 keeps running");
    await act(async () => fireEvent.click(byId("remove-domain-cancel")));
    expect(screen.queryByTestId("remove-domain-dialog")).toBeNull();
    expect(b.callsOf("remove_domain")).toHaveLength(0);

    await act(async () => fireEvent.click(byId("domain-remove-blog.example.com")));
    await act(async () => fireEvent.click(byId("remove-domain-confirm")));
    expect(b.callsOf("remove_domain")).toEqual([["local", { domain: "blog.example.com" }]]);
    await waitFor(() => expect(screen.queryByTestId("domain-row-blog.example.com")).toBeNull());
    expect(screen.queryByTestId("remove-domain-dialog")).toBeNull();
    expect(byId("domain-row-www.example.com")).toBeTruthy();
  });

  it("shows a refused removal in its dialog", async () => {
    const { b } = setup([domain("blog.example.com")]);
    b.on("remove_domain", uiError("other", "The proxy refused the configuration: loading new config: admin endpoint unavailable"));
    renderServer(b, { view: "domains" });
    const remove = await screen.findByTestId("domain-remove-blog.example.com");
    await act(async () => fireEvent.click(remove));
    await act(async () => fireEvent.click(byId("remove-domain-confirm")));
    expect((await screen.findByTestId("remove-domain-error")).textContent).toContain("The proxy refused the configuration");
    expect(byId("domain-row-blog.example.com")).toBeTruthy();
  });

  it("reloads the proxy and shows what it answers", async () => {
    const { b } = setup([domain("blog.example.com", { certificate: { state: "pending", reason: "the proxy does not answer" } })]);
    b.on("reload_proxy", [domain("blog.example.com")]);
    renderServer(b, { view: "domains" });
    await screen.findByTestId("domain-row-blog.example.com");
    expect(byId("domain-cert-blog.example.com").textContent).toBe("pending");
    await act(async () => fireEvent.click(byId("domains-reload-proxy")));
    expect(b.callsOf("reload_proxy")).toEqual([["local", {}]]);
    await waitFor(() => expect(byId("domain-cert-blog.example.com").textContent).toBe("valid · 61 days left"));
  });

  it("asks the agent every 10 s while shown, so a pending certificate turns valid", async () => {
    const every = vi.spyOn(window, "setInterval");
    const { b, served } = setup([domain("blog.example.com", { certificate: { state: "pending", reason: "the certificate is being ordered" } })]);
    renderServer(b, { view: "domains" });
    await screen.findByTestId("domain-row-blog.example.com");
    const polls = every.mock.calls.filter(([, ms]) => ms === DOMAINS_POLL_MS);
    expect(polls).toHaveLength(1);
    const before = b.callsOf("list_domains").length;

    served[0] = domain("blog.example.com");
    await act(async () => (polls[0][0] as () => void)());
    expect(b.callsOf("list_domains")).toHaveLength(before + 1);
    await waitFor(() => expect(byId("domain-cert-blog.example.com").textContent).toBe("valid · 61 days left"));

    // Not while the window is hidden.
    const hidden = vi.spyOn(document, "hidden", "get").mockReturnValue(true);
    await act(async () => (polls[0][0] as () => void)());
    expect(b.callsOf("list_domains")).toHaveLength(before + 1);
    hidden.mockRestore();
  });

  describe("names the proxy the agent runs", () => {
    it("Caddy", async () => {
      const { b } = setup([domain("blog.example.com")]);
      renderServer(b, { view: "domains" });
      await screen.findByTestId("domain-row-blog.example.com");
      expect(byId("domains-intro").textContent).toBe(
        "The server's reverse proxy (Caddy) serves each domain from an app's container, with an HTTPS certificate AppOS orders and renews on its own.",
      );
    });

    it("nginx, never Caddy", async () => {
      const { b } = setup([domain("blog.example.com")]);
      b.infos.local = { ...info, proxy: { backend: "nginx", http: "0.0.0.0:80", https: "0.0.0.0:443" } };
      renderServer(b, { view: "domains" });
      await screen.findByTestId("domain-row-blog.example.com");
      expect(byId("domains-intro").textContent).toBe(
        "The server's reverse proxy (nginx) serves each domain from an app's container, with an HTTPS certificate AppOS orders and renews on its own.",
      );
      expect(byId("domains-proxy").textContent).toBe("Proxy: nginx on 0.0.0.0:80 and 0.0.0.0:443");
      expect(byId("domain-cert-blog.example.com").title).toContain("AppOS renews it on its own.");
      await openAdd();
      expect(byId("add-domain-ssl").closest("label")!.textContent).toBe("HTTPS — with a certificate AppOS orders and renews");
      expect(document.body.textContent).not.toMatch(/caddy/i);
    });

    it("in an app's tab", async () => {
      const { b } = setup([domain("blog.example.com")]);
      b.infos.local = { ...info, proxy: { backend: "nginx", http: "0.0.0.0:80", https: "0.0.0.0:443" } };
      renderServer(b, { view: "app", app: "blog", tab: "domains" });
      await screen.findByTestId("domain-row-blog.example.com");
      expect(byId("domains-intro").textContent).toBe("The names blog is served at, through the server's reverse proxy (nginx).");
    });

    it("or none when the agent's info has none", async () => {
      const { b } = setup();
      b.infos.local = { ...info, proxy: null };
      renderServer(b, { view: "domains" });
      await screen.findByTestId("domains-no-proxy");
      expect(byId("domains-no-proxy-about").textContent).toBe(
        "AppOS serves domains through a reverse proxy that the agent runs, with HTTPS certificates AppOS orders and renews on its own. This server's agent was started without one, so it serves no domains.",
      );
    });

    it("as the info said when a call is refused for want of one", async () => {
      const { b } = setup();
      b.infos.local = { ...info, proxy: { backend: "nginx", http: "0.0.0.0:80", https: "0.0.0.0:443" } };
      b.on("list_domains", noProxy);
      renderServer(b, { view: "domains" });
      await screen.findByTestId("domains-no-proxy");
      expect(byId("domains-no-proxy-about").textContent).toContain("AppOS serves domains through a reverse proxy (nginx) that the agent runs,");
      expect(byId("domains-no-proxy-about").textContent).not.toContain("Caddy");
    });
  });

  describe("without a reverse proxy", () => {
    it("explains at once when the agent's info says it runs none, without listing", async () => {
      const { b } = setup([domain("blog.example.com")]);
      b.infos.local = { ...info, proxy: null };
      renderServer(b, { view: "domains" });
      const state = await screen.findByTestId("domains-no-proxy");
      expect(state.textContent).toContain("No reverse proxy runs on this server");
      expect(screen.queryByTestId("domains-add")).toBeNull();
      expect(screen.queryByTestId("domains-proxy")).toBeNull();
      expect(screen.queryByTestId("nav-domains-alerts")).toBeNull();
      await act(async () => {});
      expect(b.callsOf("list_domains")).toHaveLength(0);
    });

    it("explains what to set when the agent says it runs none", async () => {
      const { b } = setup();
      b.on("list_domains", noProxy);
      renderServer(b, { view: "domains" });
      const state = await screen.findByTestId("domains-no-proxy");
      expect(state.textContent).toContain("No reverse proxy runs on this server");
      expect(byId("domains-no-proxy-env").textContent).toBe("APPOS_PROXY_HTTP=:80\nAPPOS_PROXY_HTTPS=:443");
      expect(screen.queryByTestId("domains-error")).toBeNull();
      expect(screen.queryByTestId("domains-add")).toBeNull();
      expect(screen.queryByTestId("server-error")).toBeNull();
    });

    it("turns the tab into the explanation when adding is refused, and checks again on demand", async () => {
      const { b } = setup();
      b.on("add_domain", noProxy);
      b.on("reload_proxy", noProxy, [domain("blog.example.com")]);
      renderServer(b, { view: "domains" });
      await openAdd();
      await waitFor(() => expect(within(byId("add-domain-app")).getAllByRole("option")).toHaveLength(3));
      fireEvent.change(byId("add-domain-app"), { target: { value: "blog" } });
      fireEvent.change(byId("add-domain-domain"), { target: { value: "blog.example.com" } });
      await act(async () => fireEvent.click(byId("add-domain-submit")));

      expect(await screen.findByTestId("domains-no-proxy")).toBeTruthy();
      expect(screen.queryByTestId("add-domain-dialog")).toBeNull();
      expect(screen.queryByTestId("add-domain-error")).toBeNull();

      // Still none.
      await act(async () => fireEvent.click(byId("domains-no-proxy-check")));
      expect(byId("domains-no-proxy")).toBeTruthy();
      // Set up and restarted: the list is back.
      await act(async () => fireEvent.click(byId("domains-no-proxy-check")));
      expect(await screen.findByTestId("domain-row-blog.example.com")).toBeTruthy();
      expect(screen.queryByTestId("domains-no-proxy")).toBeNull();
      expect(b.callsOf("reload_proxy")).toHaveLength(2);
    });
  });
});

describe("An app's Domains tab", () => {
  it("shows only that app's domains, as links with their certificates", async () => {
    const { b } = setup([
      domain("blog.example.com"),
      domain("www.blog.example.com", { ssl: false, force_https: false, service: "web", port: 2368, certificate: { state: "none" } }),
      domain("shop.example.com", { app: "shop", service: "front", port: 80 }),
    ]);
    renderServer(b, { view: "app", app: "blog", tab: "domains" });
    const panel = await screen.findByTestId("domains");
    await within(panel).findByTestId("domain-row-blog.example.com");
    expect(panel.dataset.app).toBe("blog");
    expect(within(panel).getAllByTestId(/^domain-row-/).map((r) => r.dataset.testid)).toEqual(["domain-row-blog.example.com", "domain-row-www.blog.example.com"]);
    expect(screen.queryByTestId("domain-row-shop.example.com")).toBeNull();
    expect(byId("domain-link-blog.example.com").textContent).toBe("https://blog.example.com ");
    expect(byId("domain-link-www.blog.example.com").textContent).toBe("http://www.blog.example.com ");
    expect(byId("domain-target-blog.example.com").textContent).toBe("web:2368");
    expect(byId("domain-cert-blog.example.com").textContent).toBe("valid · 61 days left");
    expect(byId("domain-cert-www.blog.example.com").textContent).toBe("HTTP only");
    expect(byId("tab-domains").textContent).toBe("Domains2");
    expect(screen.queryByTestId("domains-reload-proxy")).toBeNull();
  });

  it("adds a domain with the app picked", async () => {
    const { b } = setup();
    renderServer(b, { view: "app", app: "blog", tab: "domains" });
    expect(await screen.findByText("No domain points at this app")).toBeTruthy();
    await openAdd();
    expect(value("add-domain-app")).toBe("blog");
    await waitFor(() => expect(value("add-domain-service")).toBe("web"));
    expect(value("add-domain-port")).toBe("2368");
    fireEvent.change(byId("add-domain-domain"), { target: { value: "blog.example.com" } });
    await act(async () => fireEvent.click(byId("add-domain-submit")));
    expect(b.callsOf("add_domain")).toEqual([["local", { domain: "blog.example.com", target: "blog/web:2368", redirect_to: null, ssl: true, force_https: true, skip_preflight: false }]]);
    expect(await screen.findByTestId("domain-row-blog.example.com")).toBeTruthy();
    expect(byId("tab-domains").textContent).toBe("Domains1");
  });

  it("is there for an app created outside AppOS", async () => {
    const { b } = setup([domain("shop.example.com", { app: "shop", service: "front", port: 80 })]);
    renderServer(b, { view: "app", app: "shop", tab: "domains" });
    expect(await screen.findByTestId("domain-row-shop.example.com")).toBeTruthy();
    expect(byId("tab-domains").dataset.active).toBe("true");
  });
});
