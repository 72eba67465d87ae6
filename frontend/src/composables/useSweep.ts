import type { Ref } from 'vue'
import { getCurrentScope, onScopeDispose, readonly, ref } from 'vue'
import { followTrialBody, validateSweepView } from '../protocol'
import { useFeedbackStore } from '../stores/feedback'
import { useSweepStore } from '../stores/sweep'
import { requestJson } from './http'

/**
 * A sweep's trials, asked of the live server every `SWEEP_POLL_MS`, and the request that moves
 * the live view to another trial (or back to the best).
 *
 * Polled rather than pushed on the socket: the sweep belongs to the server, not to the live
 * session the socket is part of, and that socket is closed and reopened each time the live
 * view moves to another trial. The figures change with the trials' heartbeats (every 2 s), so
 * one small GET every 2 s per open page is what they are worth, and a page whose socket is
 * down for a moment still shows the sweep.
 */

export const SWEEP_URL = '/api/sweep'
export const SWEEP_FOLLOW_URL = '/api/sweep/follow'
export const SWEEP_POLL_MS = 2000
/** The feedback store's request name for the follow toasts. */
export const SWEEP_REQUEST = 'follow_trial'

export interface SweepHandle {
  /** True while a request for the sweep is on its way. */
  loading: Readonly<Ref<boolean>>
  /** Ask now (also what the timer does); false when no usable answer came. `fresh`: if a
   * request is already on its way, ask again once it is answered. */
  refresh: (fresh?: boolean) => Promise<boolean>
  /** Play `run` (a trial's run id), or follow the best trial again ('best'). */
  follow: (run: string) => Promise<boolean>
  stop: () => void
}

export function useSweep(intervalMs: number = SWEEP_POLL_MS): SweepHandle {
  const store = useSweepStore()
  const feedback = useFeedbackStore()
  const loading = ref(false)
  let timer: ReturnType<typeof setInterval> | undefined
  let stopped = false
  /** Asked again while a request was on its way, for news newer than that request's answer. */
  let again = false

  async function refresh(fresh = false): Promise<boolean> {
    // One request at a time: a slow answer is not overtaken by the next tick.
    if (stopped)
      return false
    if (loading.value) {
      again ||= fresh
      return false
    }
    loading.value = true
    try {
      const res = await requestJson('GET', SWEEP_URL)
      if (stopped)
        return false
      if (!res.ok) {
        store.failed(res.error)
        return false
      }
      const parsed = validateSweepView(res.data)
      if (!parsed.ok) {
        console.warn(`[townlet] ${parsed.error}`)
        store.failed(parsed.error)
        return false
      }
      store.apply(parsed.value)
      return true
    }
    finally {
      loading.value = false
      if (again && !stopped) {
        again = false
        void refresh()
      }
    }
  }

  async function follow(run: string): Promise<boolean> {
    if (store.pendingFollow !== null)
      return false
    store.pendingFollow = run
    try {
      const res = await requestJson('POST', SWEEP_FOLLOW_URL, followTrialBody(run))
      if (!res.ok) {
        feedback.push('error', `Could not follow ${run === 'best' ? 'the best trial' : `trial ${run}`}: ${res.error}`, SWEEP_REQUEST)
        return false
      }
      const said = typeof (res.data as { message?: unknown })?.message === 'string' ? (res.data as { message: string }).message : 'done'
      feedback.push('ack', said, SWEEP_REQUEST)
      return true
    }
    finally {
      store.pendingFollow = null
      // The table shows the new trial followed at once, not at the next tick.
      await refresh(true)
    }
  }

  function stop(): void {
    stopped = true
    if (timer !== undefined)
      clearInterval(timer)
    timer = undefined
  }

  void refresh()
  timer = setInterval(() => void refresh(), intervalMs)
  if (getCurrentScope())
    onScopeDispose(stop)

  return { loading: readonly(loading), refresh, follow, stop }
}
