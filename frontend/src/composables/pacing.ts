import type { Ref, ShallowRef } from 'vue'
import { getCurrentScope, onScopeDispose, shallowRef, watch } from 'vue'

/**
 * How often the page redraws while live play streams at up to 60 states a second. Without a GPU
 * every redraw is paid for by the CPU that trains (Chromium with software compositing: style,
 * layout, paint, raster and compositing of every changed frame), so:
 *
 * - the states that arrive within one animation frame are applied together, so the page
 *   renders at most once per frame (`createFrameBatch`);
 * - up to `FULL_RATE_PACE` steps/s the town and the panels show every state;
 * - above it the town shows the newest state at most `TOWN_HZ` times a second and the panels
 *   beside it (meters, Q-values, decision, episode counters, the measured pace) at most
 *   `PANEL_HZ` times a second (`usePaced`): always values as received, never more than
 *   1000 / PANEL_HZ ms behind. The trail still holds every cell the agent left.
 */

/** Up to this pace (steps/s) the town and the panels show every state. */
export const FULL_RATE_PACE = 20
/** Above it: how many times a second the town shows the newest state, */
export const TOWN_HZ = 20
/** and the panels beside it. */
export const PANEL_HZ = 10
/** Messages kept waiting for a frame at most; beyond that they are applied at once. */
export const MAX_BATCH = 240
/** A frame that does not come within this long (a hidden tab has none) is not waited for. */
export const FRAME_FALLBACK_MS = 100

/** Shortest interval between two updates of a view shown `hz` times a second above `FULL_RATE_PACE` (0: every state). */
export function pacedIntervalMs(stepsPerSecond: number | null, hz: number): number {
  return stepsPerSecond !== null && stepsPerSecond > FULL_RATE_PACE ? Math.round(1000 / hz) : 0
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
