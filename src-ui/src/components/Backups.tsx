// The server's Backups tab: the repository, set here when there is none
// (its new key shown once) and its key shown again from this computer; the
// schedule, edited in place; a backup taken now and followed to its end; the
// repository's snapshots, each app in one restorable; and the recent backup
// and restore runs. Also an app page's line saying when the app was last
// backed up.
import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { Archive, ArchiveRestore, Check, CircleX, KeyRound, Loader2, Pencil, RefreshCw, X } from "lucide-react";
import { toUiError } from "../api/backend";
import type { BackupRepositorySet, UiError } from "../api/desktop.gen";
import type { BackupRun, BackupSchedule, RepositoryInfo, RepositoryRequest, ScheduleStatus, Snapshot } from "../api/types.gen";
import {
  appBackupWords,
  BACKUP_RUN_POLL_MS,
  everyWords,
  INTERVALS,
  isNoRepository,
  isRunOver,
  isStale,
  lastBackupWords,
  latestSnapshotFor,
  nextBackupWords,
  refusalWords,
  runOutcome,
  runResult,
  runWords,
  scheduleWords,
  shortId,
  sortSnapshots,
  STALE_INTERVALS,
} from "../lib/backups";
import { errorHint } from "../lib/errors";
import { fmtAgo, fmtDuration, fmtTime } from "../lib/format";
import { useDebounced, useLatest, useLoad, useStickToBottom, useTick, type Loaded } from "../lib/hooks";
import { useServer, useServerEvents } from "../lib/server";
import { useSessionState } from "../lib/session";
import { Badge, Button, Checkbox, CopyButton, cx, Dialog, EmptyState, ErrorAlert, FieldMessage, Input, LoadingBlock, Select, StateBadge } from "./ui";

export function BackupsView({ local = false }: { local?: boolean }) {
  const { backend, server } = useServer();
  const status = useLoad(() => backend.call(server, { call: "get_backup_schedule", args: {} }), [backend, server]);
  const snapshots = useLoad(() => backend.call(server, { call: "list_snapshots", args: {} }), [backend, server]);
  const runs = useLoad(() => backend.call(server, { call: "list_backup_runs", args: {} }), [backend, server]);
  const repository = useLoad(() => backend.call(server, { call: "get_backup_repository", args: {} }), [backend, server]);
  // Kept until dismissed, even when the tab is left: a new key is shown this once.
  const [notice, setNotice] = useSessionState<RepositoryNotice | null>(`backup-repository-set:${server}`, null);
  const refresh = () => {
    void status.reload();
    void snapshots.reload();
    void runs.reload();
    void repository.reload();
  };
  const refreshSoon = useDebounced(refresh, 300);
  useServerEvents((e) => {
    if (e.kind === "backup") refreshSoon();
  });
  const refreshing = status.loading || snapshots.loading || runs.loading;
  const noRepository = [status.error, snapshots.error].find(isNoRepository) ?? null;
  return (
    <div data-testid="backups">
      <div className="mb-1 flex flex-wrap items-center gap-3">
        <h2 className="text-lg font-semibold tracking-tight">Backups</h2>
        <div className="flex-1" />
        <Button size="sm" variant="ghost" aria-label="Refresh backups" data-testid="backups-refresh" onClick={refresh}>
          <RefreshCw className={cx("size-4", refreshing && "animate-spin")} />
        </Button>
      </div>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400" data-testid="backups-intro">
        The agent backs up its database, the apps' directories and certificates and, with volumes, the apps' data to a restic repository, encrypted with a key you keep. A
        restore brings one app back and deploys it.
      </p>
      {notice && <RepositorySetNotice notice={notice} onDismiss={() => setNotice(null)} />}
      {noRepository ? (
        <NoRepository
          error={noRepository}
          local={local}
          info={repository}
          onSet={(set, typedHostKey) => {
            setNotice({ set, typedHostKey });
            refresh();
          }}
        />
      ) : (
        <div className="space-y-8">
          {repository.data?.location ? (
            <RepositoryLine key={repository.data.location} info={repository.data} />
          ) : (
            repository.error && (
              <p className="text-xs text-zinc-500" data-testid="backup-repository-info-error">
                Could not read the repository: {repository.error.message}
              </p>
            )
          )}
          <ScheduleSection loaded={status} />
          <BackUpNow onChange={refreshSoon} />
          <SnapshotsSection loaded={snapshots} onChange={refreshSoon} />
          <RunsSection loaded={runs} />
        </div>
      )}
    </div>
  );
}

/** Text with its `backquoted` parts as code. */
function withCode(text: string): ReactNode {
  return text.split("`").map((part, i) =>
    i % 2 ? (
      <code key={i} className="font-mono text-xs">
        {part}
      </code>
    ) : (
      part
    ),
  );
}

/** The block a secret or a key line is shown in: selected whole with one click, and copied. */
function KeyBlock({ value, testId }: { value: string; testId: string }) {
  return (
    <div className="flex items-start gap-1 rounded-md bg-zinc-100 py-1 pr-1 pl-3 dark:bg-zinc-800">
      <pre className="min-w-0 flex-1 py-1 font-mono text-xs break-all whitespace-pre-wrap text-zinc-800 select-all dark:text-zinc-200" data-testid={testId}>
        {value}
      </pre>
      <CopyButton value={value} testId={`${testId}-copy`} />
    </div>
  );
}

/** A repository just set, as the tab tells it until dismissed. */
interface RepositoryNotice {
  set: BackupRepositorySet;
  /** The user gave the SFTP host's key: no need to ask them to check the one pinned. */
  typedHostKey: boolean;
}

/** Where this computer keeps a repository's key, in words. */
function keptWords(keyKept: string | null): string {
  if (keyKept === "keyring") return "Kept in this computer's keyring.";
  if (keyKept) return `Kept in ${keyKept} (no OS keyring here).`;
  return "Not kept on this computer: copy it now.";
}

function RepositorySetNotice({ notice, onDismiss }: { notice: RepositoryNotice; onDismiss: () => void }) {
  const { repository: r, key_kept, used_kept_key } = notice.set;
  const pinned = r.host_key && !notice.typedHostKey ? r.host_key : null;
  return (
    <section
      data-testid="backup-repository-notice"
      className={cx(
        "mb-6 rounded-xl border p-4 text-sm",
        r.key ? "border-amber-300 bg-amber-50 dark:border-amber-700/60 dark:bg-amber-950/30" : "border-emerald-200 bg-emerald-50 dark:border-emerald-900 dark:bg-emerald-950/30",
      )}
    >
      <div className="flex items-start gap-3">
        {r.key ? <KeyRound className="mt-0.5 size-5 shrink-0 text-amber-600" aria-hidden /> : <Check className="mt-0.5 size-5 shrink-0 text-emerald-600" aria-hidden />}
        <div className="min-w-0 flex-1 space-y-2">
          <p className="font-semibold" data-testid="backup-repository-notice-title">
            Backups go to <span className="font-mono text-[13px] break-all">{r.location}</span>
          </p>
          {r.key ? (
            <>
              <p data-testid="backup-repository-new">A new repository. Its key:</p>
              <KeyBlock value={r.key} testId="backup-repository-new-key" />
              <p className={cx(!key_kept && "font-medium text-amber-800 dark:text-amber-300")} data-testid="backup-repository-key-kept">
                {keptWords(key_kept)}
              </p>
              <p data-testid="backup-repository-key-away">Keep a copy away from this computer too: a restore on a new server needs it.</p>
            </>
          ) : used_kept_key ? (
            <p data-testid="backup-repository-used-kept-key">Opened with the key kept on this computer.</p>
          ) : (
            <p data-testid="backup-repository-given-key">
              {r.created ? "A new repository, with the key given." : "Opened with the key given."} {key_kept ? keptWords(key_kept) : "Not kept on this computer."}
            </p>
          )}
          {pinned && (
            <p data-testid="backup-repository-pinned">
              Host key pinned: <span className="font-mono text-xs break-all">{pinned}</span>; check it is the backup host's.
            </p>
          )}
        </div>
        <Button size="sm" variant="ghost" className="-my-1 shrink-0" aria-label="Dismiss" data-testid="backup-repository-notice-dismiss" onClick={onDismiss}>
          <X className="size-4" />
        </Button>
      </div>
    </section>
  );
}

/** The repository set: where it is, the host key pinned, and the key this computer keeps for it. */
function RepositoryLine({ info }: { info: RepositoryInfo }) {
  const { backend, server } = useServer();
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<{ key: string | null } | null>(null);
  const [error, setError] = useState<UiError | null>(null);

  async function showKey() {
    setBusy(true);
    setError(null);
    try {
      setShown({ key: await backend.backupKey(server) });
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section data-testid="backup-repository-info" className="space-y-2 rounded-xl border border-zinc-200 px-4 py-3 text-sm dark:border-zinc-800">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <Archive className="size-4 shrink-0 text-zinc-400" aria-hidden />
        <span className="text-zinc-500 dark:text-zinc-400">Repository</span>
        <span className="min-w-0 font-mono text-[13px] font-medium break-all" data-testid="backup-repository-info-location">
          {info.location}
        </span>
        <div className="flex-1" />
        {shown ? (
          <Button size="sm" variant="ghost" data-testid="backup-repository-hide-key" onClick={() => setShown(null)}>
            Hide key
          </Button>
        ) : (
          <Button size="sm" variant="secondary" busy={busy} data-testid="backup-repository-show-key" onClick={() => void showKey()}>
            {!busy && <KeyRound className="size-4" />} Show key
          </Button>
        )}
      </div>
      {info.host_key && (
        <p className="text-zinc-600 dark:text-zinc-400" data-testid="backup-repository-info-host-key">
          Host key pinned: <span className="font-mono text-xs break-all">{info.host_key}</span>
        </p>
      )}
      {shown &&
        (shown.key ? (
          <KeyBlock value={shown.key} testId="backup-repository-kept-key" />
        ) : (
          <p className="text-zinc-600 dark:text-zinc-400" data-testid="backup-repository-kept-key-none">
            This computer does not keep this repository's key.
          </p>
        ))}
      {error && <ErrorAlert error={error} title="Could not read the key" testId="backup-repository-kept-key-error" />}
    </section>
  );
}

type RepositoryField = "location" | "key" | "host_key";
const REPOSITORY_FIELDS: readonly string[] = ["location", "key", "host_key"] satisfies RepositoryField[];

/** No repository yet: the form that sets one, and the CLI command that does the same. */
function NoRepository({
  error,
  local,
  info,
  onSet,
}: {
  error: UiError;
  local: boolean;
  info: Loaded<RepositoryInfo>;
  onSet: (set: BackupRepositorySet, typedHostKey: boolean) => void;
}) {
  const { backend, server } = useServer();
  const command = `appos${local ? "" : ` --server ${server}`} backup repository /var/backups/appos`;
  const [location, setLocation] = useState("");
  const [key, setKey] = useState("");
  const [hostKey, setHostKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [errs, setErrs] = useState<Partial<Record<RepositoryField, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sftp = location.trim().startsWith("sftp:");

  const edit = (field: RepositoryField, set: (v: string) => void, v: string) => {
    set(v);
    setErrs(({ [field]: _, ...rest }) => rest);
  };

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const where = location.trim();
    if (!where || busy) return;
    const typedHostKey = sftp && !!hostKey.trim();
    const request: RepositoryRequest = { location: where, key: key || null, host_key: typedHostKey ? hostKey.trim() : null };
    setBusy(true);
    setErrs({});
    setFormError(null);
    try {
      const set = await backend.setBackupRepository(server, request);
      setKey("");
      onSet(set, typedHostKey);
    } catch (e) {
      const u = toUiError(e);
      const mine: Partial<Record<RepositoryField, string>> = {};
      const rest = u.fields.filter((f) => {
        if (!REPOSITORY_FIELDS.includes(f.field)) return true;
        const k = f.field as RepositoryField;
        mine[k] = mine[k] ? `${mine[k]} ${f.message}` : f.message;
        return false;
      });
      setErrs(mine);
      if (rest.length || u.fields.length === 0) {
        const hint = errorHint(u);
        const words = rest.length ? rest.map((f) => `${f.field}: ${f.message}`).join("; ") : refusalWords(u.message);
        setFormError(hint ? `${words.replace(/\.$/, "")}. ${hint}` : words);
      }
    } finally {
      setBusy(false);
    }
  }

  /** One input of the form: its label, the hint (or the agent's word on it), named for its field. */
  const field = (name: RepositoryField, text: string, value: string, set: (v: string) => void, hint: string, extra: { placeholder?: string; type?: string }) => {
    const id = `backup-repository-${name.replace("_", "-")}`;
    return (
      <div className="space-y-1.5">
        <label htmlFor={id} className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
          {text}
        </label>
        <Input
          id={id}
          data-testid={id}
          type={extra.type}
          spellCheck={false}
          autoComplete="off"
          placeholder={extra.placeholder}
          aria-invalid={!!errs[name]}
          className={cx("h-8 font-mono text-[13px]", errs[name] && "border-red-400 dark:border-red-700")}
          value={value}
          onChange={(e) => edit(name, set, e.target.value)}
        />
        {!errs[name] && <p className="text-xs text-zinc-500 dark:text-zinc-400">{hint}</p>}
        <div className="wrap-anywhere">
          <FieldMessage message={errs[name]} testId={`${id}-error`} />
        </div>
      </div>
    );
  };

  return (
    <section data-testid="backups-no-repository" className="rounded-xl border border-zinc-200 px-5 py-4 dark:border-zinc-800">
      <div className="flex items-start gap-3">
        <Archive className="mt-0.5 size-5 shrink-0 text-zinc-400 dark:text-zinc-500" aria-hidden />
        <div className="min-w-0 flex-1">
          <h3 className="text-[15px] font-semibold">Backups are not set up on this server</h3>
          <p className="mt-0.5 text-sm text-zinc-500 dark:text-zinc-400" data-testid="backups-no-repository-message">
            {withCode(refusalWords(error.message))}
          </p>
        </div>
      </div>
      <form noValidate onSubmit={(e) => void submit(e)} className="mt-4 max-w-2xl space-y-4" data-testid="backup-repository-form">
        {field("location", "Location", location, setLocation, "A directory on the server, or sftp:USER@HOST:/PATH on another host over SSH (sftp://USER@HOST:PORT//PATH for another port).", { placeholder: "/var/backups/appos or sftp://backup@vault:22//srv/appos" })}
        {sftp && (
          <>
            <div className="space-y-1.5" data-testid="backup-repository-ssh">
              <p className="text-[13px] font-medium text-zinc-700 dark:text-zinc-300">The agent's SSH key</p>
              {info.data ? (
                <KeyBlock value={info.data.ssh_public_key} testId="backup-repository-ssh-key" />
              ) : info.error ? (
                <p className="text-xs text-red-600 dark:text-red-400" data-testid="backup-repository-ssh-key-error">
                  Could not read the agent's SSH key: {info.error.message}{" "}
                  <button type="button" className="font-medium text-indigo-600 hover:underline dark:text-indigo-400" onClick={() => void info.reload()}>
                    Retry
                  </button>
                </p>
              ) : (
                <p className="text-xs text-zinc-500" role="status">
                  Reading the agent's SSH key…
                </p>
              )}
              <p className="text-xs text-zinc-500 dark:text-zinc-400" data-testid="backup-repository-ssh-hint">
                Add this line to that user's ~/.ssh/authorized_keys on the backup host.
              </p>
            </div>
            {field("host_key", "Host key (optional)", hostKey, setHostKey, "The backup host's SSH key fingerprint, as ssh-keygen -l prints it. Left empty, the key the host shows now is pinned.", { placeholder: "SHA256:…" })}
          </>
        )}
        {field("key", "Key (optional)", key, setKey, "Only to open an existing repository; leave empty to make a new one.", { type: "password" })}
        {formError && (
          <p role="alert" className="text-sm break-words text-red-600 dark:text-red-400" data-testid="backup-repository-error">
            {withCode(formError)}
          </p>
        )}
        <div className="flex flex-wrap items-center gap-3">
          <Button type="submit" size="sm" variant="primary" busy={busy} disabled={!location.trim()} data-testid="backup-repository-set">
            Set repository
          </Button>
          {busy && <span className="text-xs text-zinc-500 dark:text-zinc-400">Opening or creating the repository…</span>}
        </div>
      </form>
      <div className="mt-5 border-t border-zinc-100 pt-3 text-xs text-zinc-500 dark:border-zinc-800 dark:text-zinc-400">
        <p>Or from a terminal on this computer:</p>
        <pre className="mt-1 overflow-x-auto rounded-md bg-zinc-100 px-3 py-1.5 font-mono text-xs text-zinc-800 select-all dark:bg-zinc-800 dark:text-zinc-200" data-testid="backups-repository-command">
          {command}
        </pre>
      </div>
    </section>
  );
}

function ScheduleSection({ loaded }: { loaded: Loaded<ScheduleStatus> }) {
  const [editing, setEditing] = useState(false);
  const st = loaded.data;
  useTick(!!st, 30_000);
  const stale = !!st && isStale(st.last_success_ms, st.schedule);
  const next = st ? nextBackupWords(st.next_ms) : null;
  return (
    <section data-testid="backup-schedule">
      <div className="mb-1 flex items-center gap-3">
        <h3 className="text-[15px] font-semibold">Schedule</h3>
        <div className="flex-1" />
        {st && !editing && (
          <Button size="sm" variant="secondary" data-testid="backup-schedule-edit" onClick={() => setEditing(true)}>
            <Pencil className="size-4" /> {st.schedule ? "Edit" : "Set a schedule"}
          </Button>
        )}
      </div>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400">
        The agent backs up every app on its own, then forgets the snapshots beyond the number kept. Changing the schedule needs an admin token.
      </p>
      {loaded.error && (
        <ErrorAlert className="mb-3" error={loaded.error} title={st ? "Could not refresh the schedule" : "Could not read the schedule"} testId="backup-schedule-error" onRetry={() => void loaded.reload()} />
      )}
      {!st ? (
        !loaded.error && <LoadingBlock label="Loading the schedule…" rows={1} />
      ) : editing ? (
        <ScheduleEditor
          status={st}
          onDone={(saved) => {
            if (saved) loaded.setData(saved);
            setEditing(false);
          }}
        />
      ) : (
        <div className="space-y-0.5 rounded-xl border border-zinc-200 px-4 py-3 text-sm dark:border-zinc-800">
          <p className={cx("font-medium", !st.schedule && "text-zinc-500 dark:text-zinc-400")} data-testid="backup-schedule-text">
            {scheduleWords(st.schedule)}
          </p>
          <p
            data-testid="backup-last"
            data-stale={stale}
            className={stale ? "font-medium text-amber-700 dark:text-amber-400" : "text-zinc-600 dark:text-zinc-400"}
            title={st.last_success_ms === null ? undefined : `${fmtTime(st.last_success_ms)}${stale ? `: more than ${STALE_INTERVALS} intervals of the schedule ago` : ""}`}
          >
            {lastBackupWords(st.last_success_ms)}
          </p>
          {next && st.next_ms !== null && (
            <p className="text-zinc-600 dark:text-zinc-400" data-testid="backup-next" title={fmtTime(st.next_ms)}>
              {next}
            </p>
          )}
        </div>
      )}
    </section>
  );
}

type ScheduleField = "every_secs" | "keep";

/** The schedule's form: saved whole, or turned off. */
function ScheduleEditor({ status, onDone }: { status: ScheduleStatus; onDone: (saved: ScheduleStatus | null) => void }) {
  const { backend, server } = useServer();
  const cur = status.schedule;
  const [every, setEvery] = useState(String(cur?.every_secs ?? 86_400));
  const [keep, setKeep] = useState(String(cur?.keep ?? 7));
  const [volumes, setVolumes] = useState(cur?.volumes ?? false);
  const [busy, setBusy] = useState<"save" | "off" | null>(null);
  const [errs, setErrs] = useState<Partial<Record<ScheduleField, string>>>({});
  const [error, setError] = useState<UiError | null>(null);
  // A schedule set elsewhere (e.g. every 2 days) stays one of the choices.
  const intervals = !cur || INTERVALS.some((i) => i.secs === cur.every_secs) ? INTERVALS : [...INTERVALS, { secs: cur.every_secs, label: everyWords(cur.every_secs) }];

  function fail(e: unknown) {
    const u = toUiError(e);
    const mine: Partial<Record<ScheduleField, string>> = {};
    const rest = u.fields.filter((f) => {
      if (f.field !== "every_secs" && f.field !== "keep") return true;
      mine[f.field] = f.message;
      return false;
    });
    setErrs(mine);
    if (rest.length || u.fields.length === 0) setError({ ...u, fields: rest });
    setBusy(null);
  }

  async function save(ev: FormEvent) {
    ev.preventDefault();
    if (!/^\d+$/.test(keep.trim())) {
      setErrs({ keep: "A whole number of snapshots." });
      return;
    }
    const schedule: BackupSchedule = { every_secs: Number(every), keep: Number(keep.trim()), volumes };
    setBusy("save");
    setErrs({});
    setError(null);
    try {
      onDone(await backend.call(server, { call: "set_backup_schedule", args: schedule }));
    } catch (e) {
      fail(e);
    }
  }

  async function turnOff() {
    setBusy("off");
    setErrs({});
    setError(null);
    try {
      onDone(await backend.call(server, { call: "clear_backup_schedule", args: {} }));
    } catch (e) {
      fail(e);
    }
  }

  return (
    <form noValidate onSubmit={(e) => void save(e)} className="space-y-3 rounded-xl border border-zinc-200 bg-zinc-50/60 px-4 py-3 dark:border-zinc-800 dark:bg-zinc-900/40" data-testid="backup-schedule-form">
      <div className="flex flex-wrap items-start gap-x-6 gap-y-3">
        <div className="space-y-1.5">
          <label htmlFor="backup-schedule-every" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
            Interval
          </label>
          <Select id="backup-schedule-every" data-testid="backup-schedule-every" className="w-36" aria-invalid={!!errs.every_secs} value={every} onChange={(e) => setEvery(e.target.value)}>
            {intervals.map((i) => (
              <option key={i.secs} value={String(i.secs)}>
                {i.label}
              </option>
            ))}
          </Select>
          <FieldMessage message={errs.every_secs} testId="backup-schedule-every-error" />
        </div>
        <div className="space-y-1.5">
          <label htmlFor="backup-schedule-keep" className="block text-[13px] font-medium text-zinc-700 dark:text-zinc-300">
            Snapshots kept
          </label>
          <Input
            id="backup-schedule-keep"
            data-testid="backup-schedule-keep"
            inputMode="numeric"
            aria-invalid={!!errs.keep}
            className={cx("h-8 w-24 font-mono text-[13px]", errs.keep && "border-red-400 dark:border-red-700")}
            value={keep}
            onChange={(e) => {
              setKeep(e.target.value);
              setErrs(({ keep: _, ...rest }) => rest);
            }}
          />
          <FieldMessage message={errs.keep} testId="backup-schedule-keep-error" />
        </div>
        <div className="space-y-1.5 pt-7">
          <Checkbox data-testid="backup-schedule-volumes" checked={volumes} onChange={(e) => setVolumes(e.target.checked)} label="with volumes" />
        </div>
      </div>
      <p className="text-xs text-zinc-500 dark:text-zinc-400">With volumes, each backup also holds the apps' data; it takes longer and needs more room.</p>
      {error && <ErrorAlert error={error} title="Could not change the schedule" testId="backup-schedule-save-error" />}
      <div className="flex flex-wrap items-center gap-2">
        {cur && (
          <Button type="button" size="sm" variant="ghost" className="text-red-600 hover:text-red-700 dark:text-red-400" busy={busy === "off"} disabled={!!busy} data-testid="backup-schedule-off" onClick={() => void turnOff()}>
            Turn off
          </Button>
        )}
        <div className="flex-1" />
        <Button type="button" size="sm" variant="ghost" disabled={!!busy} data-testid="backup-schedule-cancel" onClick={() => onDone(null)}>
          Cancel
        </Button>
        <Button type="submit" size="sm" variant="primary" busy={busy === "save"} disabled={!!busy} data-testid="backup-schedule-save">
          Save
        </Button>
      </div>
    </form>
  );
}

/** Reads run `id` every BACKUP_RUN_POLL_MS until it ends; `onEnd` hears the end once. */
function useBackupRun(id: string, onEnd: (r: BackupRun) => void): { run: BackupRun | null; error: UiError | null } {
  const { backend, server } = useServer();
  const [run, setRun] = useState<BackupRun | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const ended = useLatest(onEnd);
  useEffect(() => {
    let active = true;
    let t: ReturnType<typeof setTimeout> | null = null;
    setRun(null);
    setError(null);
    const read = async () => {
      try {
        const r = await backend.call(server, { call: "get_backup_run", args: { id } });
        if (!active) return;
        setRun(r);
        setError(null);
        if (isRunOver(r.state)) {
          ended.current(r);
          return;
        }
      } catch (e) {
        if (!active) return;
        const u = toUiError(e);
        setError(u);
        // Gone: nothing more to read.
        if (u.code === "not_found") return;
      }
      t = setTimeout(() => void read(), BACKUP_RUN_POLL_MS);
    };
    void read();
    return () => {
      active = false;
      if (t) clearTimeout(t);
    };
  }, [backend, server, id, ended]);
  return { run, error };
}

/** A run followed live: what it is, its log lines, and how it ended. */
function RunFollow({ id, onEnd }: { id: string; onEnd: (r: BackupRun) => void }) {
  const { run, error } = useBackupRun(id, onEnd);
  const over = !!run && isRunOver(run.state);
  useTick(!!run && !over);
  const { box, onScroll } = useStickToBottom([run?.log.length]);
  const outcome = run ? runOutcome(run) : null;
  return (
    <div data-testid="backup-run" data-run={id} data-state={run?.state ?? "loading"} className="overflow-hidden rounded-xl border border-zinc-200 dark:border-zinc-800">
      <div className="flex flex-wrap items-center gap-2 border-b border-zinc-200 px-4 py-2 text-sm dark:border-zinc-800">
        {run && !over && <Loader2 className="size-4 animate-spin text-zinc-400" aria-hidden />}
        <span className="font-medium" data-testid="backup-run-title">
          {run ? runWords(run) : "Reading the run…"}
        </span>
        {run && <StateBadge state={run.state} testId="backup-run-state" />}
        <div className="flex-1" />
        {run && <span className="text-xs text-zinc-500 tabular-nums">{fmtDuration((run.finished_ms ?? Date.now()) - run.created_ms)}</span>}
      </div>
      <div ref={box} onScroll={onScroll} data-testid="backup-run-log" className="max-h-64 min-h-12 overflow-auto bg-zinc-50 py-1 font-mono text-xs leading-5 dark:bg-zinc-950">
        {!run?.log.length ? (
          <p className="px-3 py-1 text-zinc-500">{over ? "No log lines." : "Waiting for the first step…"}</p>
        ) : (
          run.log.map((line, i) => (
            <div key={i} className="px-3 break-all whitespace-pre-wrap" data-testid="backup-run-line">
              {line}
            </div>
          ))
        )}
      </div>
      {run && outcome && (
        <p
          role={run.state === "failed" ? "alert" : undefined}
          data-testid="backup-run-outcome"
          className={cx(
            "flex items-start gap-2 border-t px-4 py-2 text-sm break-words",
            run.state === "failed"
              ? "border-red-200 bg-red-50 text-red-800 dark:border-red-900 dark:bg-red-950/40 dark:text-red-300"
              : "border-emerald-200 bg-emerald-50 text-emerald-800 dark:border-emerald-900 dark:bg-emerald-950/30 dark:text-emerald-300",
          )}
        >
          {run.state === "failed" ? <CircleX className="mt-0.5 size-4 shrink-0" aria-hidden /> : <Check className="mt-0.5 size-4 shrink-0" aria-hidden />}
          <span className="min-w-0 flex-1">{outcome}</span>
        </p>
      )}
      {error && <ErrorAlert className="m-2" error={error} title="Could not read the run" testId="backup-run-error" />}
    </div>
  );
}

/** "Back up now": every app, with or without volumes, followed to its end. */
function BackUpNow({ onChange }: { onChange: () => void }) {
  const { backend, server } = useServer();
  const [volumes, setVolumes] = useState(false);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [run, setRun] = useState<{ id: string; over: boolean } | null>(null);

  async function start() {
    setStarting(true);
    setError(null);
    try {
      const { id } = await backend.call(server, { call: "create_backup", args: { app: null, volumes } });
      setRun({ id, over: false });
      onChange();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setStarting(false);
    }
  }

  const running = !!run && !run.over;
  return (
    <section data-testid="backup-now">
      <div className="mb-3 flex flex-wrap items-center gap-4">
        <Button variant="primary" size="sm" busy={starting} disabled={running} data-testid="backup-now-start" onClick={() => void start()}>
          {!starting && <Archive className="size-4" />} Back up now
        </Button>
        <Checkbox data-testid="backup-now-volumes" checked={volumes} disabled={starting || running} onChange={(e) => setVolumes(e.target.checked)} label="with volumes" />
        <span className="text-sm text-zinc-500 dark:text-zinc-400">Every app, at once; the apps keep running meanwhile.</span>
      </div>
      {error && <ErrorAlert className="mb-3" error={error} title="Could not start a backup" testId="backup-now-error" />}
      {run && (
        <RunFollow
          key={run.id}
          id={run.id}
          onEnd={() => {
            setRun((r) => (r && r.id === run.id ? { ...r, over: true } : r));
            onChange();
          }}
        />
      )}
    </section>
  );
}

function SnapshotsSection({ loaded, onChange }: { loaded: Loaded<Snapshot[]>; onChange: () => void }) {
  const rows = useMemo(() => (loaded.data ? sortSnapshots(loaded.data) : null), [loaded.data]);
  const [restoring, setRestoring] = useState<{ snapshot: Snapshot; app: string } | null>(null);
  useTick(!!rows?.length, 30_000);
  return (
    <section data-testid="backup-snapshots">
      <div className="mb-1 flex items-center gap-3">
        <h3 className="text-[15px] font-semibold">Snapshots</h3>
        {rows && (
          <span className="text-xs text-zinc-500" data-testid="backup-snapshots-count">
            {rows.length === 1 ? "1 snapshot" : `${rows.length} snapshots`}
          </span>
        )}
      </div>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400">Newest first. An app of a snapshot can be restored here when no app of its name exists on this server.</p>
      {loaded.error && (
        <ErrorAlert className="mb-3" error={loaded.error} title={rows ? "Could not refresh the snapshots" : "Could not list the snapshots"} testId="backup-snapshots-error" onRetry={() => void loaded.reload()} />
      )}
      {rows === null ? (
        !loaded.error && <LoadingBlock label="Loading snapshots…" rows={2} />
      ) : rows.length === 0 ? (
        <EmptyState icon={<Archive className="size-10" />} title="No snapshots yet">
          Back up now, or set a schedule: each backup adds a snapshot here.
        </EmptyState>
      ) : (
        <div className="overflow-x-auto rounded-xl border border-zinc-200 dark:border-zinc-800">
          <table className="w-full text-sm" data-testid="backup-snapshots-table">
            <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
              <tr>
                <th className="px-4 py-2">Snapshot</th>
                <th className="px-4 py-2">Taken</th>
                <th className="px-4 py-2">Apps</th>
                <th className="px-4 py-2">Volumes</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {rows.map((s) => (
                <SnapshotRow key={s.id} snapshot={s} onRestore={(app) => setRestoring({ snapshot: s, app })} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {restoring && <RestoreDialog snapshot={restoring.snapshot} app={restoring.app} onClose={() => setRestoring(null)} onChange={onChange} />}
    </section>
  );
}

function SnapshotRow({ snapshot: s, onRestore }: { snapshot: Snapshot; onRestore: (app: string) => void }) {
  return (
    <tr data-testid={`snapshot-${s.id}`} className="align-top">
      <td className="px-4 py-2.5">
        <span className="font-mono text-[13px] font-medium" title={s.id} data-testid={`snapshot-id-${s.id}`}>
          {shortId(s.id)}
        </span>
        <span className="block text-xs text-zinc-500" data-testid={`snapshot-host-${s.id}`}>
          on {s.host}
        </span>
      </td>
      <td className="px-4 py-2.5 whitespace-nowrap text-zinc-600 dark:text-zinc-400" title={fmtTime(s.time_ms)} data-testid={`snapshot-when-${s.id}`}>
        {fmtAgo(s.time_ms)}
      </td>
      <td className="px-4 py-2">
        {s.apps.length === 0 ? (
          <span className="text-zinc-500">no app</span>
        ) : (
          <ul className="flex flex-wrap gap-1.5">
            {s.apps.map((app) => (
              <li key={app} data-testid={`snapshot-app-${s.id}-${app}`} className="inline-flex items-center gap-2 rounded-md border border-zinc-200 py-0.5 pr-1 pl-2 dark:border-zinc-700">
                <span className="font-medium">{app}</span>
                <button
                  type="button"
                  className="rounded px-1 text-xs font-medium text-indigo-600 hover:bg-indigo-50 hover:underline dark:text-indigo-400 dark:hover:bg-indigo-500/10"
                  title={`Restore ${app} from snapshot ${shortId(s.id)}`}
                  data-testid={`snapshot-restore-${s.id}-${app}`}
                  onClick={() => onRestore(app)}
                >
                  Restore…
                </button>
              </li>
            ))}
          </ul>
        )}
      </td>
      <td className="px-4 py-2.5 whitespace-nowrap" data-testid={`snapshot-volumes-${s.id}`}>
        {s.volumes ? <Badge tone="indigo">with volumes</Badge> : <span className="text-zinc-400 dark:text-zinc-500">—</span>}
      </td>
    </tr>
  );
}

/** Asks before restoring an app from a snapshot, then follows the restore. */
function RestoreDialog({ snapshot: s, app, onClose, onChange }: { snapshot: Snapshot; app: string; onClose: () => void; onChange: () => void }) {
  const { backend, server, nav } = useServer();
  const [busy, setBusy] = useState(false);
  const [keepTokens, setKeepTokens] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [run, setRun] = useState<{ id: string; succeeded: boolean } | null>(null);
  const short = shortId(s.id);

  async function restore() {
    setBusy(true);
    setError(null);
    try {
      const { id } = await backend.call(server, { call: "restore_backup", args: { snapshot: s.id, request: { app, keep_tokens: keepTokens } } });
      setRun({ id, succeeded: false });
      onChange();
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog
      open
      wide={!!run}
      tone="warning"
      onClose={() => !busy && onClose()}
      title={`Restore ${app}?`}
      testId="restore-dialog"
      description={
        <>
          From snapshot <span className="font-mono text-xs">{short}</span>, taken {fmtAgo(s.time_ms)} ({fmtTime(s.time_ms)}) on {s.host}.
        </>
      }
      footer={
        run ? (
          <>
            {run.succeeded && (
              <Button variant="secondary" data-testid="restore-open-app" onClick={() => nav.go({ view: "app", app, tab: "overview" })}>
                Open {app}
              </Button>
            )}
            <Button variant="primary" data-testid="restore-close" onClick={onClose}>
              Close
            </Button>
          </>
        ) : (
          <>
            <Button variant="ghost" disabled={busy} onClick={onClose} data-testid="restore-cancel">
              Cancel
            </Button>
            <Button variant="primary" busy={busy} data-testid="restore-confirm" onClick={() => void restore()}>
              {!busy && <ArchiveRestore className="size-4" />} Restore {app}
            </Button>
          </>
        )
      }
    >
      {run ? (
        <RunFollow
          id={run.id}
          onEnd={(r) => {
            setRun((x) => (x && x.id === r.id ? { ...x, succeeded: r.state === "succeeded" } : x));
            onChange();
          }}
        />
      ) : (
        <>
          <ul className="list-disc space-y-1.5 pl-5 text-sm text-zinc-700 dark:text-zinc-300" data-testid="restore-explain">
            <li>
              It brings <strong>{app}</strong> back as it was then: its versions, deployments and domains{s.volumes ? ", and its volumes with their data" : ""}. Then it deploys it.
            </li>
            {!s.volumes && <li>This snapshot was taken without volumes: {app} comes back without its data.</li>}
            <li>
              No app named {app} may exist on this server: a restore never overwrites an app. Delete it first to bring this copy back.
            </li>
          </ul>
          <div className="mt-4 space-y-1">
            <Checkbox data-testid="restore-keep-tokens" checked={keepTokens} disabled={busy} onChange={(e) => setKeepTokens(e.target.checked)} label="Also bring back the backed-up agent's tokens" />
            <p className="pl-6 text-xs text-zinc-500 dark:text-zinc-400" data-testid="restore-keep-tokens-hint">
              So the clients that held them work here too; else only this agent's own tokens work here.
            </p>
          </div>
          {error && <ErrorAlert className="mt-4" error={error} title={`Could not restore ${app}`} testId="restore-error" />}
        </>
      )}
    </Dialog>
  );
}

function RunsSection({ loaded }: { loaded: Loaded<BackupRun[]> }) {
  const rows = useMemo(() => (loaded.data ? [...loaded.data].sort((a, b) => b.created_ms - a.created_ms) : null), [loaded.data]);
  useTick(!!rows?.length, 30_000);
  return (
    <section data-testid="backup-runs">
      <h3 className="mb-1 text-[15px] font-semibold">Recent runs</h3>
      <p className="mb-3 text-sm text-zinc-500 dark:text-zinc-400">Backups and restores, scheduled or asked for, newest first.</p>
      {loaded.error && (
        <ErrorAlert className="mb-3" error={loaded.error} title={rows ? "Could not refresh the runs" : "Could not list the runs"} testId="backup-runs-error" onRetry={() => void loaded.reload()} />
      )}
      {rows === null ? (
        !loaded.error && <LoadingBlock label="Loading runs…" rows={2} />
      ) : rows.length === 0 ? (
        <p className="text-sm text-zinc-500" data-testid="backup-runs-empty">
          No backup or restore yet.
        </p>
      ) : (
        <div className="overflow-x-auto rounded-xl border border-zinc-200 dark:border-zinc-800">
          <table className="w-full text-sm" data-testid="backup-runs-table">
            <thead className="bg-zinc-50 text-left text-xs font-medium text-zinc-500 dark:bg-zinc-900">
              <tr>
                <th className="px-4 py-2">Kind</th>
                <th className="px-4 py-2">App</th>
                <th className="px-4 py-2">State</th>
                <th className="px-4 py-2">When</th>
                <th className="px-4 py-2">Result</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800">
              {rows.map((r) => (
                <RunRow key={r.id} run={r} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function RunRow({ run: r }: { run: BackupRun }) {
  const failed = r.state === "failed";
  return (
    <tr data-testid={`backup-run-${r.id}`} className="align-top">
      <td className="px-4 py-2.5 whitespace-nowrap" data-testid={`backup-run-kind-${r.id}`}>
        {r.kind === "backup" ? "Backup" : "Restore"}
        {r.kind === "backup" && r.volumes && <span className="block text-xs text-zinc-500">with volumes</span>}
      </td>
      <td className={cx("px-4 py-2.5", r.app ? "font-medium" : "text-zinc-500 dark:text-zinc-400")} data-testid={`backup-run-app-${r.id}`}>
        {r.app ?? "every app"}
      </td>
      <td className="px-4 py-2.5">
        <StateBadge state={r.state} testId={`backup-run-state-${r.id}`} />
      </td>
      <td
        className="px-4 py-2.5 whitespace-nowrap text-zinc-600 dark:text-zinc-400"
        title={`${fmtTime(r.created_ms)}${r.finished_ms !== null ? ` to ${fmtTime(r.finished_ms)}` : ""}, by ${r.actor}`}
        data-testid={`backup-run-when-${r.id}`}
      >
        {fmtAgo(r.created_ms)}
      </td>
      <td
        className={cx("max-w-md px-4 py-2.5 break-words", failed ? "text-red-600 dark:text-red-400" : "font-mono text-xs text-zinc-600 dark:text-zinc-400")}
        title={r.snapshot ?? undefined}
        data-testid={`backup-run-result-${r.id}`}
      >
        {runResult(r)}
      </td>
    </tr>
  );
}

/**
 * An app page's line: when the app was last backed up, from the newest
 * snapshot that holds it. Nothing at all while the server has no backup
 * repository (or its agent has no backups): apps there show no error.
 */
export function AppLastBackup({ app }: { app: string }) {
  const { backend, server, nav } = useServer();
  const list = useLoad(() => backend.call(server, { call: "list_snapshots", args: {} }), [backend, server]);
  const refreshSoon = useDebounced(() => void list.reload(), 300);
  useServerEvents((e) => {
    if (e.kind === "backup") refreshSoon();
  });
  useTick(!!list.data, 30_000);
  if (!list.data) {
    const e = list.error;
    if (!e || isNoRepository(e) || e.code === "not_found") return null;
    return (
      <p className="text-xs text-zinc-500" data-testid="app-last-backup-error">
        Could not read the backups: {e.message}
      </p>
    );
  }
  const latest = latestSnapshotFor(list.data, app);
  return (
    <p className="flex items-center gap-2 text-[13px] text-zinc-600 dark:text-zinc-400">
      <Archive className="size-4 text-zinc-400" aria-hidden />
      <span data-testid="app-last-backup" title={latest ? fmtTime(latest.time_ms) : undefined}>
        {appBackupWords(latest)}
      </span>
      <button type="button" className="text-[13px] font-medium text-indigo-600 hover:underline dark:text-indigo-400" data-testid="app-last-backup-open" onClick={() => nav.go({ view: "backups" })}>
        Backups
      </button>
    </p>
  );
}
