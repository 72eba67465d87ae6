import type { ConnectionStatus } from '../protocol'

/** What the connection badge says. Only 'live' means data is flowing right now. */
export type ConnectionTone = 'live' | 'quiet' | 'connecting' | 'reconnecting' | 'disconnected'

export interface ConnectionView {
  tone: ConnectionTone
  label: string
  detail: string
  /** Whether what is on screen is the last thing received before the link went down. */
  stale: boolean
}

export interface ConnectionFacts {
  status: ConnectionStatus
  everOpened: boolean
  /** Reconnecting because the live view moved to another trial of the sweep, not a drop. */
  switching?: boolean
  nextRetryAt: number | null
  retries: number
  lastMessageAt: number | null
  now: number
}

/** The server sends training_status about once a second; this much silence is worth saying. */
export const QUIET_AFTER_MS = 4000
/** After this many failed retries "reconnecting" becomes "disconnected" (retries continue). */
const GIVE_UP_LABEL_AFTER = 3

function seconds(ms: number): string {
  return `${Math.max(0, Math.ceil(ms / 1000))} s`
}

export function connectionView(f: ConnectionFacts): ConnectionView {
  if (f.switching && f.status !== 'open')
    return { tone: 'connecting', label: 'switching trial…', detail: 'the live view moves to another trial of the sweep', stale: false }
  const stale = f.everOpened && f.status !== 'open'
  if (f.status === 'open') {
    const silent = f.lastMessageAt === null ? 0 : f.now - f.lastMessageAt
    if (silent >= QUIET_AFTER_MS)
      return { tone: 'quiet', label: 'live · no data', detail: `connected, but nothing received for ${seconds(silent)}`, stale: false }
    return { tone: 'live', label: 'live', detail: 'connected; receiving play and training updates', stale: false }
  }
  if (f.status === 'connecting') {
    return f.everOpened
      ? { tone: 'reconnecting', label: 'reconnecting…', detail: `attempt ${f.retries}`, stale }
      : { tone: 'connecting', label: 'connecting…', detail: 'opening the live socket', stale }
  }
  if (f.nextRetryAt !== null) {
    const wait = `next try in ${seconds(f.nextRetryAt - f.now)}`
    if (f.retries > GIVE_UP_LABEL_AFTER)
      return { tone: 'disconnected', label: 'disconnected', detail: `server unreachable; ${wait}`, stale }
    if (!f.everOpened)
      return { tone: 'connecting', label: 'connecting…', detail: `server not reachable yet; ${wait}`, stale }
    return { tone: 'reconnecting', label: 'reconnecting…', detail: `connection lost; ${wait}`, stale }
  }
  return { tone: 'disconnected', label: 'disconnected', detail: 'closed', stale }
}
