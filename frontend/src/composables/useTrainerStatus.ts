import type { ComputedRef, Ref } from 'vue'
import { computed, getCurrentScope, onScopeDispose, readonly, ref, shallowRef, toValue } from 'vue'
import { PROTOCOL_VERSION } from '../protocol'

/**
 * Whether the trainer behind the page can be reached, asked of the dev server every second.
 *
 * The page talks to the trainer only through the dev server's proxy, so when play stops the
 * socket alone cannot tell "trainer gone" from "network gone" from "wrong token". The dev server
 * (trainerStatus.ts, next to vite.config.ts) asks the trainer's /health itself and answers
 * `GET /__townlet/trainer` with what it found; this composable polls that and says it in one
 * view for the header. A page served some other way has no such endpoint (404): then there is
 * nothing to say, and the indicator stays hidden rather than showing a false red.
 */

export const TRAINER_STATUS_URL = '/__townlet/trainer'
export const TRAINER_POLL_MS = 1000
/** Longer than the dev server's own 2 s wait on the trainer, so its "timed out" arrives first. */
export const TRAINER_REQUEST_TIMEOUT_MS = 2500

/** The dev server's answer (mirrors `TrainerStatus` in trainerStatus.ts). */
export interface TrainerStatus {
  url: string
  ok: boolean
  /** 'refused' | 'timed out' | 'unreachable' | 'bad token' | 'unhealthy' | 'bad answer'. */
  error: string | null
  detail: string | null
  protocol_version: number | null
}

/** What the indicator shows. */
export interface TrainerView {
  state: 'ok' | 'error'
  url: string
  /** Short: the error ('refused', 'wrong version', ...); null when ok. */
  error: string | null
  /** A sentence saying what to check; null when ok. */
  detail: string | null
}

function isNullableString(v: unknown): v is string | null {
  return v === null || typeof v === 'string'
}

/** The endpoint's JSON as a status, or null when it is not one (checked field by field). */
export function parseTrainerStatus(data: unknown): TrainerStatus | null {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    return null
  const o = data as Record<string, unknown>
  const version = o.protocol_version ?? null
  if (typeof o.url !== 'string' || typeof o.ok !== 'boolean' || !isNullableString(o.error) || !isNullableString(o.detail))
    return null
  if (version !== null && !(typeof version === 'number' && Number.isInteger(version)))
    return null
  return { url: o.url, ok: o.ok, error: o.error, detail: o.detail, protocol_version: version }
}

/**
 * The indicator's view: red when the trainer cannot be reached or speaks another protocol
 * version (from /health, else from the socket's hello), green otherwise; null hides it.
 */
export function trainerView(status: TrainerStatus | null, helloVersion: number | null): TrainerView | null {
  if (!status)
    return null
  // hello is from the last connection: only trust it while the trainer is up (it is the same one).
  const version = status.protocol_version ?? (status.ok ? helloVersion : null)
  if (version !== null && version !== PROTOCOL_VERSION) {
    return {
      state: 'error',
      url: status.url,
      error: 'wrong version',
      detail: `trainer speaks protocol ${version}, this page ${PROTOCOL_VERSION} — update both sides to the same Townlet`,
    }
  }
  if (status.ok)
    return { state: 'ok', url: status.url, error: null, detail: null }
  return { state: 'error', url: status.url, error: status.error ?? 'unreachable', detail: status.detail }
}

export interface UseTrainerStatusOptions {
  /** The socket's hello.protocol_version (null before hello or from older servers). */
  helloVersion?: Ref<number | null> | (() => number | null)
  intervalMs?: number
  timeoutMs?: number
  url?: string
}

export interface TrainerStatusHandle {
  /** The last answer; null before the first one, or when the endpoint is missing. */
  status: Readonly<Ref<TrainerStatus | null>>
  /** False once the endpoint turned out to be missing (page not served by our dev server). */
  available: Readonly<Ref<boolean>>
  /** What the indicator shows; null hides it. */
  view: ComputedRef<TrainerView | null>
  /** Ask now (also what the timer does). */
  refresh: () => Promise<void>
  /** Stop polling (also done when the calling scope is disposed). */
  stop: () => void
}

export function useTrainerStatus(options: UseTrainerStatusOptions = {}): TrainerStatusHandle {
  const intervalMs = options.intervalMs ?? TRAINER_POLL_MS
  const timeoutMs = options.timeoutMs ?? TRAINER_REQUEST_TIMEOUT_MS
  const url = options.url ?? TRAINER_STATUS_URL
  const status = shallowRef<TrainerStatus | null>(null)
  const available = ref(true)

  let timer: ReturnType<typeof setInterval> | undefined
  let inFlight: AbortController | null = null
  let stopped = false

  function stop(): void {
    stopped = true
    if (timer !== undefined)
      clearInterval(timer)
    timer = undefined
    inFlight?.abort()
    inFlight = null
  }

  /** The endpoint is not ours to ask: hide, and stop filling the console with 404s. */
  function missing(): void {
    available.value = false
    status.value = null
    stop()
  }

  /** The page's own server did not answer: say so if we were showing a trainer, else stay hidden. */
  function pageServerDown(): void {
    const last = status.value
    if (!last)
      return
    status.value = {
      url: last.url,
      ok: false,
      error: 'unreachable',
      detail: 'the page\'s own server (Vite) does not answer: is run_demo.py still running on this machine?',
      protocol_version: null,
    }
  }

  async function refresh(): Promise<void> {
    // One request at a time: a slow answer is not overtaken by the next tick.
    if (stopped || inFlight)
      return
    const controller = new AbortController()
    inFlight = controller
    const abortTimer = setTimeout(() => controller.abort(), timeoutMs)
    try {
      const res = await fetch(url, { signal: controller.signal, cache: 'no-store', headers: { Accept: 'application/json' } })
      if (stopped)
        return
      if (res.status === 404)
        return missing()
      if (!res.ok)
        return pageServerDown()
      let data: unknown
      try {
        data = await res.json()
      }
      catch {
        // A page served by something else can answer any path with index.html.
        return missing()
      }
      const parsed = parseTrainerStatus(data)
      if (!parsed) {
        console.warn('[townlet] ignoring the trainer status endpoint: its answer is not a trainer status')
        return missing()
      }
      if (!stopped)
        status.value = parsed
    }
    catch {
      if (!stopped)
        pageServerDown()
    }
    finally {
      clearTimeout(abortTimer)
      if (inFlight === controller)
        inFlight = null
    }
  }

  const view = computed(() => trainerView(status.value, toValue(options.helloVersion) ?? null))

  void refresh()
  timer = setInterval(() => void refresh(), intervalMs)
  if (getCurrentScope())
    onScopeDispose(stop)

  return { status: readonly(status), available: readonly(available), view, refresh, stop }
}
