// Processes seen through /proc (Linux), shared by tests/integration and tests/e2e: a gateway's
// children (stdio backends), and whether a pid is gone. Plain Node, no dependencies.
import { readFileSync, readdirSync } from 'node:fs';

/** { pid, state, ppid } from /proc/<pid>/stat, or undefined when there is no such process. */
export function procStat(pid) {
  let text;
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
  // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid: Number(pid), state: rest[0], ppid: Number(rest[1]) };
}

/** True when the process no longer exists or is a zombie (exited, not yet reaped). */
export function processGone(pid) {
  const st = procStat(pid);
  return st === undefined || st.state === 'Z' || st.state === 'X';
}

/** Pids of the processes whose parent is `ppid`; zombies only with { zombies: true }. */
export function childPids(ppid, { zombies = false } = {}) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(name);
    if (st && st.ppid === ppid && (zombies || (st.state !== 'Z' && st.state !== 'X'))) out.push(st.pid);
  }
  return out.sort((a, b) => a - b);
}
