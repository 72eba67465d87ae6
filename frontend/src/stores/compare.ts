import type {
  Affordance,
  CompareStartedMessage,
  CompareStateMessage,
  DeathCause,
  ModelLoadedMessage,
  StateMessage,
  WorldFacts,
} from '../protocol'
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'

/**
 * Side-by-side comparison of two checkpoints on the same seed and layout, shared by every
 * viewer of the run. The server plays both in lockstep and keeps stepping one side after the
 * other's episode has ended (that side shows how it ended) until both have, then starts the
 * next episode for both; this store remembers when and how each side ended.
 */

export type CompareStatus = 'idle' | 'starting' | 'running' | 'stopped'

export interface SideEnd {
  step: number
  cause: DeathCause | 'ended'
}

export interface CompareSide {
  model: ModelLoadedMessage
  state: StateMessage | null
  ended: SideEnd | null
}

/** The rules needed to say how an episode ended: from hello. */
export interface EndRules {
  world: WorldFacts | null
  stepCap: number | null
}

/** How a finished episode ended, from its last state: a terminal meter at 0, or the step cap. */
export function endCause(s: StateMessage, rules: EndRules): SideEnd['cause'] {
  const terminal = rules.world?.meters.filter(m => m.terminal).map(m => m.name) ?? []
  const empty = terminal.find(name => (s.meters[name] ?? 1) <= 1e-9)
  if (empty === 'energy' || empty === 'health')
    return empty
  if (rules.stepCap !== null && s.step >= rules.stepCap)
    return 'step_cap'
  return 'ended'
}

export const useCompareStore = defineStore('compare', () => {
  const status = ref<CompareStatus>('idle')
  /** What this page asked for (null: the server's default). */
  const requested = shallowRef<{ left: string | null, right: string | null }>({ left: null, right: null })
  const seed = ref<number | null>(null)
  const affordances = shallowRef<Affordance[]>([])
  const left = shallowRef<CompareSide | null>(null)
  const right = shallowRef<CompareSide | null>(null)
  const step = ref<number | null>(null)
  const stopReason = ref<string | null>(null)

  const active = computed(() => status.value === 'starting' || status.value === 'running')

  function noteRequested(l: string | null, r: string | null): void {
    requested.value = { left: l, right: r }
    status.value = 'starting'
    stopReason.value = null
  }

  function applyStarted(msg: CompareStartedMessage): void {
    status.value = 'running'
    seed.value = msg.seed
    affordances.value = msg.affordances
    left.value = { model: msg.left, state: null, ended: null }
    right.value = { model: msg.right, state: null, ended: null }
    step.value = null
    stopReason.value = null
  }

  function advance(side: CompareSide | null, s: StateMessage, rules: EndRules): CompareSide | null {
    if (!side)
      return null
    // A new episode on this side (the server restarts both once both have ended) clears the old ending.
    const restarted = side.state !== null && (s.episode !== side.state.episode || s.step < side.state.step)
    const ended = restarted ? null : side.ended
    return {
      ...side,
      state: s,
      ended: ended ?? (s.done ? { step: s.step, cause: endCause(s, rules) } : null),
    }
  }

  function applyState(msg: CompareStateMessage, rules: EndRules): void {
    // States after a stop (already in flight) are not a comparison any more.
    if (status.value !== 'running')
      return
    step.value = msg.step
    left.value = advance(left.value, msg.left, rules)
    right.value = advance(right.value, msg.right, rules)
  }

  function applyStopped(reason: string): void {
    status.value = 'stopped'
    stopReason.value = reason
  }

  /** The link went down: the server's comparison went with it. */
  function connectionLost(): void {
    if (active.value)
      applyStopped('connection to the live server lost')
  }

  function reset(): void {
    status.value = 'idle'
    requested.value = { left: null, right: null }
    seed.value = null
    affordances.value = []
    left.value = null
    right.value = null
    step.value = null
    stopReason.value = null
  }

  return { status, requested, seed, affordances, left, right, step, stopReason, active, noteRequested, applyStarted, applyState, applyStopped, connectionLost, reset }
})
