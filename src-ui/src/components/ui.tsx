// Small shadcn/ui-style building blocks: one look for every screen.
import { useEffect, useState, type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";
import { AlertTriangle, Check, Copy, Loader2 } from "lucide-react";
import type { UiError } from "../api/desktop.gen";
import { errorHint, errorTitle } from "../lib/errors";

export function cx(...classes: (string | false | null | undefined)[]) {
  return classes.filter(Boolean).join(" ");
}

type Variant = "primary" | "secondary" | "ghost" | "danger";
const variants: Record<Variant, string> = {
  primary: "bg-indigo-600 text-white hover:bg-indigo-500 shadow-sm disabled:bg-indigo-600/60",
  secondary:
    "border border-zinc-200 bg-white text-zinc-800 hover:bg-zinc-50 shadow-sm dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100 dark:hover:bg-zinc-800",
  ghost: "text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800 dark:hover:text-zinc-100",
  danger: "bg-red-600 text-white hover:bg-red-500 shadow-sm",
};

export function Button({
  variant = "secondary",
  size = "md",
  busy = false,
  className,
  children,
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; size?: "sm" | "md"; busy?: boolean }) {
  return (
    <button
      className={cx(
        "inline-flex items-center justify-center gap-2 rounded-md font-medium transition-colors focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 disabled:cursor-not-allowed disabled:opacity-70",
        size === "sm" ? "h-8 px-3 text-[13px]" : "h-9 px-4 text-sm",
        variants[variant],
        className,
      )}
      disabled={busy || rest.disabled}
      {...rest}
    >
      {busy && <Loader2 className="size-4 animate-spin" aria-hidden />}
      {children}
    </button>
  );
}

export function Input({ className, ...rest }: InputHTMLAttributes<HTMLInputElement>) {
  return (
    <input
      className={cx(
        "h-9 w-full rounded-md border border-zinc-300 bg-white px-3 text-sm shadow-sm placeholder:text-zinc-400 focus:border-indigo-500 focus:ring-2 focus:ring-indigo-500/20 focus:outline-none disabled:cursor-not-allowed disabled:bg-zinc-100 disabled:text-zinc-500 dark:border-zinc-700 dark:bg-zinc-900 dark:placeholder:text-zinc-500 dark:disabled:bg-zinc-800/60 dark:disabled:text-zinc-400",
        className,
      )}
      {...rest}
    />
  );
}

export function Field({ label, hint, children, htmlFor }: { label: string; hint?: string; children: ReactNode; htmlFor: string }) {
  return (
    <div className="space-y-1.5">
      <label htmlFor={htmlFor} className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
        {label}
      </label>
      {children}
      {hint && <p className="text-xs text-zinc-500 dark:text-zinc-400">{hint}</p>}
    </div>
  );
}

export type Tone = "green" | "amber" | "red" | "zinc" | "indigo";
const tones: Record<Tone, string> = {
  green: "bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-400 dark:ring-emerald-500/20",
  amber: "bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-500/10 dark:text-amber-400 dark:ring-amber-500/20",
  red: "bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-500/10 dark:text-red-400 dark:ring-red-500/20",
  zinc: "bg-zinc-100 text-zinc-700 ring-zinc-500/20 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-600/30",
  indigo: "bg-indigo-50 text-indigo-700 ring-indigo-600/20 dark:bg-indigo-500/10 dark:text-indigo-300 dark:ring-indigo-500/20",
};

export function Badge({ tone = "zinc", children, className, ...rest }: { tone?: Tone; children: ReactNode; className?: string; "data-testid"?: string; title?: string }) {
  return (
    <span className={cx(className, "inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset", tones[tone])} {...rest}>
      {children}
    </span>
  );
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span className="inline-flex items-center gap-2 text-sm text-zinc-500 dark:text-zinc-400" role="status">
      <Loader2 className="size-4 animate-spin" aria-hidden />
      {label}
    </span>
  );
}

export function Dialog({
  open,
  onClose,
  title,
  description,
  children,
  footer,
  testId,
  tone = "default",
  wide = false,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  description?: ReactNode;
  children?: ReactNode;
  footer?: ReactNode;
  testId?: string;
  tone?: "default" | "warning" | "danger";
  /** A wider panel, for dialogs that show lists. */
  wide?: boolean;
}) {
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [open, onClose]);
  if (!open) return null;
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-zinc-950/50 p-4 backdrop-blur-[2px]" onMouseDown={onClose}>
      <div
        role="dialog"
        aria-modal="true"
        aria-label={title}
        data-testid={testId}
        className={cx(
          "max-h-[calc(100vh-2rem)] w-full overflow-y-auto",
          wide ? "max-w-2xl" : "max-w-lg",
          "rounded-xl border bg-white shadow-2xl dark:bg-zinc-900",
          tone === "danger" ? "border-red-300 dark:border-red-900" : tone === "warning" ? "border-amber-300 dark:border-amber-700/60" : "border-zinc-200 dark:border-zinc-800",
        )}
        onMouseDown={(e) => e.stopPropagation()}
      >
        <div className="space-y-1.5 px-6 pt-5">
          <h2 className={cx("text-base font-semibold", tone === "danger" && "text-red-700 dark:text-red-400", tone === "warning" && "text-amber-800 dark:text-amber-300")}>{title}</h2>
          {description && <div className="text-sm text-zinc-600 dark:text-zinc-400">{description}</div>}
        </div>
        {children && <div className="px-6 py-4">{children}</div>}
        {footer && (
          <div className="flex justify-end gap-2 rounded-b-xl border-t border-zinc-100 bg-zinc-50/60 px-6 py-3 dark:border-zinc-800 dark:bg-zinc-900/60">
            {footer}
          </div>
        )}
      </div>
    </div>
  );
}

export function EmptyState({ icon, title, children }: { icon: ReactNode; title: string; children?: ReactNode }) {
  return (
    <div className="flex flex-col items-center justify-center rounded-xl border border-dashed border-zinc-300 px-6 py-16 text-center dark:border-zinc-700">
      <div className="mb-3 text-zinc-400 dark:text-zinc-500">{icon}</div>
      <h3 className="text-sm font-semibold">{title}</h3>
      {children && <div className="mt-1 max-w-sm text-sm text-zinc-500 dark:text-zinc-400">{children}</div>}
    </div>
  );
}

/** A failed call, shown where it happened, with an optional retry. */
export function ErrorAlert({
  error,
  testId,
  onRetry,
  title,
  className,
}: {
  error: UiError;
  testId?: string;
  onRetry?: () => void;
  title?: string;
  className?: string;
}) {
  const hint = errorHint(error);
  return (
    <div
      role="alert"
      data-testid={testId}
      data-code={error.code}
      className={cx("rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-sm dark:border-red-900 dark:bg-red-950/40", className)}
    >
      <div className="flex items-start gap-2">
        <AlertTriangle className="mt-0.5 size-4 shrink-0 text-red-500" aria-hidden />
        <div className="min-w-0 flex-1">
          <p className="font-medium text-red-800 dark:text-red-300">{title ?? errorTitle(error)}</p>
          <p className="mt-0.5 break-words whitespace-pre-wrap text-red-700 dark:text-red-400">{error.message}</p>
          {error.fields.length > 0 && (
            <ul className="mt-1 list-disc pl-4 text-red-700 dark:text-red-400">
              {error.fields.map((f) => (
                <li key={f.field + f.message}>
                  <code className="font-mono text-xs">{f.field}</code>: {f.message}
                </li>
              ))}
            </ul>
          )}
          {hint && <p className="mt-1 text-red-700/80 dark:text-red-400/80">{hint}</p>}
        </div>
        {onRetry && (
          <Button size="sm" variant="ghost" onClick={onRetry} className="-my-1 shrink-0">
            Retry
          </Button>
        )}
      </div>
    </div>
  );
}

export function Skeleton({ className }: { className?: string }) {
  return <div aria-hidden className={cx("animate-pulse rounded-md bg-zinc-100 dark:bg-zinc-800/70", className)} />;
}

/** Inline "Loading…" text with skeleton rows under it: never a blocking spinner. */
export function LoadingBlock({ label, rows = 3, rowClass = "h-10" }: { label: string; rows?: number; rowClass?: string }) {
  return (
    <div className="space-y-2" aria-busy="true">
      <p className="text-xs text-zinc-500" role="status">
        {label}
      </p>
      {Array.from({ length: rows }, (_, i) => (
        <Skeleton key={i} className={rowClass} />
      ))}
    </div>
  );
}

export function FieldMessage({ message, testId }: { message?: string; testId?: string }) {
  if (!message) return null;
  return (
    <p className="text-xs text-red-600 dark:text-red-400" data-testid={testId} role="alert">
      {message}
    </p>
  );
}

const CHEVRON = `url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16' fill='none' stroke='%2371717a' stroke-width='2'%3E%3Cpath d='M4 6l4 4 4-4'/%3E%3C/svg%3E")`;

export function Select({ className, children, style, ...rest }: SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <select
      className={cx(
        // appearance-none: WebKitGTK otherwise paints the GTK theme's light
        // box under the app's dark text colour, and the value disappears.
        "h-8 appearance-none rounded-md border border-zinc-300 bg-white bg-[length:12px] bg-[right_0.5rem_center] bg-no-repeat pr-7 pl-2 text-[13px] text-zinc-900 shadow-sm focus:border-indigo-500 focus:ring-2 focus:ring-indigo-500/20 focus:outline-none dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100",
        className,
      )}
      style={{ backgroundImage: CHEVRON, ...style }}
      {...rest}
    >
      {children}
    </select>
  );
}

export function Checkbox({ label, className, ...rest }: InputHTMLAttributes<HTMLInputElement> & { label: ReactNode }) {
  return (
    <label className={cx("inline-flex cursor-pointer items-center gap-2 text-[13px] select-none", rest.disabled && "cursor-not-allowed opacity-60", className)}>
      <input type="checkbox" className="size-4 rounded border-zinc-300 accent-indigo-600" {...rest} />
      <span>{label}</span>
    </label>
  );
}

export interface TabItem<K extends string> {
  key: K;
  label: ReactNode;
  icon?: ReactNode;
  testId?: string;
  count?: number | null;
}

/** An underlined tab bar. */
export function Tabs<K extends string>({
  items,
  active,
  onSelect,
  className,
  label,
  underline = true,
}: {
  items: TabItem<K>[];
  active: K;
  onSelect: (k: K) => void;
  className?: string;
  label: string;
  /** Draw the bar's bottom line (off when the parent draws it). */
  underline?: boolean;
}) {
  return (
    <div role="tablist" aria-label={label} className={cx("flex items-center gap-1", underline && "border-b border-zinc-200 dark:border-zinc-800", className)}>
      {items.map((t) => (
        <button
          key={t.key}
          role="tab"
          type="button"
          aria-selected={t.key === active}
          data-testid={t.testId}
          data-active={t.key === active}
          onClick={() => onSelect(t.key)}
          className={cx(
            "-mb-px inline-flex h-9 shrink-0 items-center gap-1.5 border-b-2 px-3 text-[13px] font-medium whitespace-nowrap transition-colors",
            t.key === active
              ? "border-indigo-600 text-zinc-900 dark:border-indigo-400 dark:text-zinc-100"
              : "border-transparent text-zinc-500 hover:border-zinc-300 hover:text-zinc-800 dark:hover:border-zinc-600 dark:hover:text-zinc-200",
          )}
        >
          {t.icon}
          {t.label}
          {t.count != null && <span className="rounded-full bg-zinc-100 px-1.5 text-[11px] text-zinc-600 tabular-nums dark:bg-zinc-800 dark:text-zinc-400">{t.count}</span>}
        </button>
      ))}
    </div>
  );
}

/** Copies `value` to the clipboard and says so (or says why not). */
export function CopyButton({ value, testId, label = "Copy" }: { value: string; testId?: string; label?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const t = setTimeout(() => setState("idle"), 2000);
    return () => clearTimeout(t);
  }, [state]);
  return (
    <Button
      type="button"
      size="sm"
      variant="ghost"
      data-testid={testId}
      aria-label={`${label} to clipboard`}
      onClick={() => {
        const clip = navigator.clipboard;
        if (!clip) {
          setState("failed");
          return;
        }
        clip.writeText(value).then(
          () => setState("copied"),
          () => setState("failed"),
        );
      }}
    >
      {state === "copied" ? <Check className="size-4 text-emerald-600" /> : <Copy className="size-4" />}
      <span className="text-xs">{state === "copied" ? "Copied" : state === "failed" ? "Copy failed — select and copy by hand" : label}</span>
    </Button>
  );
}

/** A state dot + text for deployment, step and app states. */
export function StateBadge({ state, testId, tone }: { state: string; testId?: string; tone?: Tone }) {
  return (
    <Badge tone={tone ?? stateTone(state)} data-testid={testId}>
      {state}
    </Badge>
  );
}

export function stateTone(state: string): Tone {
  switch (state) {
    case "running":
    case "succeeded":
      return "green";
    case "queued":
    case "partial":
    case "interrupted":
      return "amber";
    case "failed":
    case "degraded":
    case "dead":
      return "red";
    default:
      return "zinc";
  }
}
