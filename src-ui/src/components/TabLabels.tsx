// The tab bar's and the sidebar's counts: small, and on screen from the
// start, so they are apart from the views they count for (loaded when
// first opened).
import type { Alert } from "../api/types.gen";
import type { CertAlerts } from "../lib/domains";
import { cx } from "./ui";

/** The tab bar's label: "Alerts", with the count of firing ones (red when one is critical). */
export function AlertsTabLabel({ firing }: { firing: Alert[] | null }) {
  const n = firing?.length ?? 0;
  const critical = firing?.filter((a) => a.severity === "critical").length ?? 0;
  return (
    <>
      Alerts
      {n > 0 && (
        <span
          data-testid="nav-alerts-firing"
          data-tone={critical ? "red" : "amber"}
          title={`${n} firing${critical ? `, ${critical} critical` : ""}`}
          aria-label={`${n} ${n === 1 ? "alert" : "alerts"} firing`}
          className={cx("rounded-full px-1.5 text-[11px] font-semibold text-white tabular-nums", critical ? "bg-red-600" : "bg-amber-500")}
        >
          {n}
        </span>
      )}
    </>
  );
}

/** The tab bar's label: "Domains", with the count of certificates expiring or failed. */
export function DomainsTabLabel({ alerts }: { alerts: CertAlerts }) {
  return (
    <>
      Domains
      <CertAlertsBadge alerts={alerts} testId="nav-domains-alerts" />
    </>
  );
}

/** The count of certificates expiring or failed (nothing when none): the tab bar's and the sidebar's. */
export function CertAlertsBadge({ alerts, testId }: { alerts: CertAlerts; testId?: string }) {
  if (alerts.total === 0) return null;
  const { failed, expiring, total } = alerts;
  const words = [failed && `${failed} failed`, expiring && `${expiring} expiring`].filter(Boolean).join(", ");
  return (
    <span
      data-testid={testId}
      data-tone={failed ? "red" : "amber"}
      title={`Certificates: ${words}`}
      aria-label={`${total} ${total === 1 ? "certificate needs" : "certificates need"} attention`}
      className={cx("rounded-full px-1.5 text-[11px] font-semibold text-white tabular-nums", failed ? "bg-red-600" : "bg-amber-500")}
    >
      {total}
    </span>
  );
}
