import type { Ref, ShallowRef } from 'vue'
import { getCurrentScope, onScopeDispose, shallowRef, watch } from 'vue'

/**
 * How often the page redraws while live play streams at up to 60 states a second. Without a GPU
 * every redraw is paid for by the CPU that trains, so:
 *
 * - the states that arrive within one animation frame are applied together, so the page
 *   renders at most once per frame (`createFrameBatch`);
 * - above `FULL_RATE_PACE` steps/s the panels beside the town (meters, Q-values, decision,
 *   episode counters) show the newest state at most `PANEL_HZ` times a second (`usePaced`),
 *   while the town still moves every frame. At slower paces they follow every state.
 */

/** Up to this pace (steps/s) the panels show every state. */
export const FULL_RATE_PACE = 20
/** Above it, how many times a second the panels are updated (always with the newest state). */
const __q = typeof location !== 'undefined' ? new URLSearchParams(location.search) : new URLSearchParams()
export const PANEL_HZ = Number(__q.get('panelHz') ?? 12)
export const TOWN_HZ = Number(__q.get('townHz') ?? 0)
/** Messages kept waiting for a frame at most; beyond that they are applied at once. */
export const MAX_BATCH = 240
/** A frame that does not come within this long (a hidden tab has none) is not waited for. */
export const FRAME_FALLBACK_MS = 100

/** The panels' minimum interval between updates at a given pace (0: every state). */
export function panelIntervalMs(stepsPerSecond: number | null): number {
  return stepsPerSecond !== null && stepsPerSecond > FULL_RATE_PACE ? Math.round(1000 / PANEL_HZ) : 0
}

export interface FrameBatch {
  /** Queue a message that may wait for the next frame (a state); its arrival time goes with it. */
  defer: (data: unknown) => void
  /** Apply a message now, after every queued one (order is kept). */
  now: (data: unknown) => void
  /** Apply what is queued now. */
  flush: () => void
  /** Forget what is queued and stop waiting for a frame. */
  cancel: () => void
}

/**
 * Messages in arrival order, the deferrable ones held until the next animation frame (or
 * `FRAME_FALLBACK_MS`, whichever is first) so that a frame's worth of states costs one render.
 * Every message is still applied, in order: the store needs every step (return, trail).
 */
export function createFrameBatch(apply: (data: unknown, receivedAt: number) => void, clock: () => number = Date.now): FrameBatch {
  let queue: Array<[data: unknown, receivedAt: number]> = []
  let frame: number | undefined
  let timer: ReturnType<typeof setTimeout> | undefined

  function unschedule(): void {
    if (frame !== undefined && typeof cancelAnimationFrame === 'function')
      cancelAnimationFrame(frame)
    if (timer !== undefined)
      clearTimeout(timer)
    frame = undefined
    timer = undefined
  }

  function flush(): void {
    unschedule()
    const pending = queue
    queue = []
    for (const [data, receivedAt] of pending)
      apply(data, receivedAt)
  }

  function schedule(): void {
    if (timer !== undefined)
      return
    if (typeof requestAnimationFrame === 'function')
      frame = requestAnimationFrame(flush)
    timer = setTimeout(flush, FRAME_FALLBACK_MS)
  }

  return {
    defer(data: unknown): void {
      queue.push([data, clock()])
      if (queue.length >= MAX_BATCH)
        flush()
      else
        schedule()
    },
    now(data: unknown): void {
      if (queue.length)
        flush()
      apply(data, clock())
    },
    flush,
    cancel(): void {
      unschedule()
      queue = []
    },
  }
}

/**
 * A copy of `source()` that follows it at most once per `intervalMs()` (0: on every change),
 * always with the newest value: a change after a quiet spell shows at once, changes within the
 * interval show together when it ends. Nothing shown is ever older than the interval.
 * Changes made in one synchronous burst are seen together (the watcher runs before the render).
 */
export function usePaced<T>(source: () => T, intervalMs: () => number, clock: () => number = Date.now): Readonly<ShallowRef<T>> {
  const shown = shallowRef(source()) as ShallowRef<T>
  let shownAt = -Infinity
  let timer: ReturnType<typeof setTimeout> | undefined

  function show(): void {
    timer = undefined
    shownAt = clock()
    shown.value = source()
  }

  watch(source, () => {
    if (timer !== undefined)
      return
    const wait = shownAt + intervalMs() - clock()
    if (wait <= 0)
      show()
    else
      timer = setTimeout(show, wait)
  })

  if (getCurrentScope()) {
    onScopeDispose(() => {
      if (timer !== undefined)
        clearTimeout(timer)
    })
  }
  return shown as Readonly<Ref<T>> as Readonly<ShallowRef<T>>
}
