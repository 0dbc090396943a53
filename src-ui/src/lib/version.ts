// Version numbers as AppOS writes them: x.y.z, maybe with a pre-release
// suffix ("0.2.0-rc.1") or build metadata ("0.2.0+abc", ignored).

interface Parsed {
  core: number[];
  pre: string[];
}

function parse(v: string): Parsed | null {
  const m = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]*)?$/.exec(v.trim());
  if (!m) return null;
  return { core: m[1].split(".").map(Number), pre: m[2] ? m[2].split(".") : [] };
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Pre-release identifiers, as semver orders them: numbers numerically and before words; a shorter prefix first. */
function comparePre(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) {
      if (Number(x) !== Number(y)) return sign(Number(x) - Number(y));
    } else if (xn !== yn) {
      return xn ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return sign(a.length - b.length);
}

/**
 * Compares two versions: -1 when `a` is older than `b`, 1 when newer, 0 when
 * the same. Missing parts count as 0 ("0.2" is "0.2.0"); a pre-release comes
 * before its release ("0.2.0-rc.1" < "0.2.0"). A version that is not a
 * version ("", "latest") compares as equal to anything.
 */
export function compareVersions(a: string, b: string): number {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return 0;
  for (let i = 0; i < Math.max(x.core.length, y.core.length); i++) {
    const d = (x.core[i] ?? 0) - (y.core[i] ?? 0);
    if (d !== 0) return sign(d);
  }
  // A release comes after each of its pre-releases.
  if (x.pre.length === 0 || y.pre.length === 0) return sign(y.pre.length - x.pre.length);
  return comparePre(x.pre, y.pre);
}
