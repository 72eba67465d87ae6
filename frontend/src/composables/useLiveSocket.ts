import type { Ref } from 'vue'
import type { ConnectionStatus } from '../protocol'
import { getCurrentScope, onScopeDispose, readonly, ref, shallowRef } from 'vue'
import { FOLLOW_CLOSE_CODE } from '../protocol'

/**
 * The page's only WebSocket, shaped like VueUse's `useWebSocket`:
 *
 * - `status` is 'connecting' | 'open' | 'closed';
 * - a drop (server gone, network lost) reconnects with exponential backoff, reset on a
 *   successful open; an explicit `close()` does not reconnect until `open()` is called;
 * - a close with `FOLLOW_CLOSE_CODE` (the live view moved to another trial of a sweep)
 *   reconnects at once, and `switching` says so until the new connection opens;
 * - every frame is JSON-decoded inside a guard: bad JSON is counted, never thrown;
 * - the socket is closed when the calling effect scope (component) is disposed.
 */

export interface Backoff {
  /** Delay before the first retry after a drop. */
  initialMs: number
  /** Upper bound for the doubling delay. */
  maxMs: number
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 8000 }

export interface UseLiveSocketOptions {
  /** Called with each decoded JSON frame (already parsed; validation is the caller's job). */
  onMessage: (data: unknown) => void
  /** Connect at once (default true); otherwise call `open()`. */
  immediate?: boolean
  backoff?: Backoff
}

export interface LiveSocket {
  status: Readonly<Ref<ConnectionStatus>>
  /** True once any connection has opened: distinguishes "connecting" from "reconnecting". */
  everOpened: Readonly<Ref<boolean>>
  /** Reconnecting because the server moved the live view to another trial (not a drop). */
  switching: Readonly<Ref<boolean>>
  /** Wall-clock ms (Date.now()) of the next reconnect attempt while one is scheduled, else null. */
  nextRetryAt: Readonly<Ref<number | null>>
  /** Reconnect attempts since the last successful open. */
  retries: Readonly<Ref<number>>
  /** Date.now() of the last frame received, or null. */
  lastMessageAt: Readonly<Ref<number | null>>
  /** Frames that were not valid JSON. */
  badFrames: Readonly<Ref<number>>
  /** Send a JSON-encodable value; false (and nothing sent) unless the socket is open. */
  send: (data: unknown) => boolean
  /** (Re)connect now, cancelling any scheduled retry and resetting the backoff. */
  open: () => void
  /** Close on purpose: no reconnect until `open()` is called again. */
  close: (code?: number, reason?: string) => void
}

/** Delay before retry number `attempt` (0-based): initial doubled per attempt, capped. */
export function backoffDelay(attempt: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  return Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt)
}

/** Same-origin socket URL: the page never names a host or port of its own. */
export function liveSocketUrl(loc: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`
}

export function useLiveSocket(url: string | (() => string), options: UseLiveSocketOptions): LiveSocket {
  const backoff = options.backoff ?? DEFAULT_BACKOFF
  const status = ref<ConnectionStatus>('closed')
  const everOpened = ref(false)
  const switching = ref(false)
  const nextRetryAt = ref<number | null>(null)
  const retries = ref(0)
  const lastMessageAt = ref<number | null>(null)
  const badFrames = ref(0)
  const socket = shallowRef<WebSocket | null>(null)

  let explicitlyClosed = false
  let retryTimer: ReturnType<typeof setTimeout> | undefined

  function cancelRetry(): void {
    if (retryTimer !== undefined)
      clearTimeout(retryTimer)
    retryTimer = undefined
    nextRetryAt.value = null
  }

  /** Detach our handlers so a late event from an old socket can never touch state. */
  function detach(ws: WebSocket): void {
    ws.onopen = null
    ws.onmessage = null
    ws.onerror = null
    ws.onclose = null
  }

  function scheduleRetry(): void {
    if (explicitlyClosed)
      return
    const delay = backoffDelay(retries.value, backoff)
    retries.value += 1
    nextRetryAt.value = Date.now() + delay
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      nextRetryAt.value = null
      connect()
    }, delay)
  }

  function dropped(ws: WebSocket): void {
    if (socket.value !== ws)
      return
    detach(ws)
    socket.value = null
    switching.value = false
    status.value = 'closed'
    scheduleRetry()
  }

  /** The server sent this page on to another trial's live view: follow it now, no backoff. */
  function switched(ws: WebSocket): void {
    if (socket.value !== ws)
      return
    detach(ws)
    socket.value = null
    switching.value = true
    connect()
  }

  function connect(): void {
    cancelRetry()
    const target = typeof url === 'function' ? url() : url
    let ws: WebSocket
    try {
      ws = new WebSocket(target)
    }
    catch {
      // A URL the browser refuses outright behaves like a drop: back off and retry.
      status.value = 'closed'
      scheduleRetry()
      return
    }
    socket.value = ws
    status.value = 'connecting'

    ws.onopen = () => {
      if (socket.value !== ws)
        return
      status.value = 'open'
      everOpened.value = true
      switching.value = false
      retries.value = 0
    }
    ws.onmessage = (event: MessageEvent) => {
      if (socket.value !== ws)
        return
      lastMessageAt.value = Date.now()
      let data: unknown
      try {
        data = JSON.parse(typeof event.data === 'string' ? event.data : String(event.data))
      }
      catch {
        badFrames.value += 1
        return
      }
      options.onMessage(data)
    }
    // An error is always followed by close; close is where we decide to retry.
    ws.onerror = () => {}
    ws.onclose = (event: CloseEvent) => (event.code === FOLLOW_CLOSE_CODE ? switched(ws) : dropped(ws))
  }

  function open(): void {
    explicitlyClosed = false
    retries.value = 0
    const old = socket.value
    if (old) {
      detach(old)
      socket.value = null
      old.close()
    }
    connect()
  }

  function close(code = 1000, reason?: string): void {
    explicitlyClosed = true
    switching.value = false
    cancelRetry()
    const ws = socket.value
    socket.value = null
    if (ws) {
      detach(ws)
      ws.close(code, reason)
    }
    status.value = 'closed'
  }

  function send(data: unknown): boolean {
    const ws = socket.value
    if (!ws || status.value !== 'open')
      return false
    ws.send(JSON.stringify(data))
    return true
  }

  if (getCurrentScope())
    onScopeDispose(() => close())

  if (options.immediate ?? true)
    open()

  return {
    status: readonly(status),
    everOpened: readonly(everOpened),
    switching: readonly(switching),
    nextRetryAt: readonly(nextRetryAt),
    retries: readonly(retries),
    lastMessageAt: readonly(lastMessageAt),
    badFrames: readonly(badFrames),
    send,
    open,
    close,
  }
}
