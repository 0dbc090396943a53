// Host access: what a compose file reaches on the server beyond its own
// folder and volumes, in the same plain words as the agent.
import type { ComposeCheck, HostAccess, HostAccessNeed } from "../api/types.gen";

/** What a capability means, in plain words (mirrors the agent's `HostAccess::describe`). */
export function describeHostAccess(a: HostAccess): string {
  const { service: s, target: t } = a;
  switch (a.kind) {
    case "bind":
      return `${s} can read and write ${t} on the server`;
    case "read_only_bind":
      return `${s} can read ${t} on the server`;
    case "docker_socket":
      return `${s} controls Docker through ${t}, which is root on the server`;
    case "volumes_from":
      return `${s} mounts every volume of the container ${t}`;
    case "volume_device":
      return `the volume ${s} is ${t} on the server; every service that mounts it can read and write it`;
    case "host_file":
      return `${s} reads the server's file ${t}`;
    case "privileged":
      return `${s} runs privileged: it can do anything root can on the server`;
    case "host_namespace":
      if (t === "pid") return `${s} sees and can signal every process on the server`;
      if (t === "userns") return `${s} runs without user namespace remapping`;
      return `${s} shares the server's ${t} namespace`;
    case "host_network":
      return `${s} uses the server's network directly: every interface and port`;
    case "container_network":
      return `${s} joins the network of the container ${t}`;
    case "capability":
      return `${s} has the Linux capability ${t}`;
    case "device":
      return `${s} can use the server's device ${t}`;
    case "unconfined":
      return `${s} runs with the security option ${t}, which lifts its confinement`;
    case "sysctl":
      return `${s} sets the kernel setting ${t}`;
  }
}

/** Access that amounts to root on the server. */
export function isRootAccess(a: HostAccess): boolean {
  return a.kind === "docker_socket" || a.kind === "privileged";
}

/** The needs of a checked file that the app does not hold yet: these need consent. */
export function newHostAccess(check: ComposeCheck): HostAccessNeed[] {
  return check.host_access.filter((n) => !n.granted);
}

/** A stable key for lists. */
export function hostAccessKey(a: HostAccess): string {
  return `${a.kind}\u0000${a.service}\u0000${a.target}`;
}
