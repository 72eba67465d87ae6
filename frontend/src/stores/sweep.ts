import type { SweepTrial, SweepView } from '../protocol'
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'

/**
 * A sweep's trials as the server last described them (`GET /api/sweep`): statuses, figures,
 * learning curves, the mean and its band, the best trial and the one the live view follows.
 * Everything here is the server's answer as it came; the page derives nothing it could get
 * wrong. `useSweep` fills it and asks the server to follow another trial.
 */
export const useSweepStore = defineStore('sweep', () => {
  const view = shallowRef<SweepView | null>(null)
  /** Date.now() when the last answer arrived. */
  const receivedAt = ref<number | null>(null)
  /** Why the last request for the sweep failed; null after a good answer. */
  const error = ref<string | null>(null)
  /** A follow request waiting for its answer: the run id, or 'best'. */
  const pendingFollow = ref<string | null>(null)

  const trials = computed<SweepTrial[]>(() => view.value?.trials ?? [])
  /** The trial the server's live view plays now. */
  const followed = computed(() => trials.value.find(t => t.followed) ?? null)
  const best = computed(() => trials.value.find(t => t.best) ?? null)

  function apply(next: SweepView, now: number = Date.now()): void {
    view.value = next
    receivedAt.value = now
    error.value = null
  }

  function failed(reason: string): void {
    error.value = reason
  }

  /** The trial with this run id, if it is one of the sweep's. */
  function trial(run: string | null | undefined): SweepTrial | null {
    return run ? trials.value.find(t => t.run === run) ?? null : null
  }

  function reset(): void {
    view.value = null
    receivedAt.value = null
    error.value = null
    pendingFollow.value = null
  }

  return { view, receivedAt, error, pendingFollow, trials, followed, best, apply, failed, trial, reset }
})
