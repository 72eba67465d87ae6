import type { SystemHistoryMessage, SystemMessage, SystemSample, SystemSnapshot } from '../protocol'
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { mergeSamples } from '../monitoring'

/**
 * The trainer machine's CPU, memory and GPUs over time: the history sent on connect, then a
 * sample every 2 s. `gpuNote` (why no GPU is watched) comes from `GET /api/system` only.
 */
export const useSystemStore = defineStore('system', () => {
  const samples = shallowRef<SystemSample[]>([])
  /** e.g. "no NVIDIA GPU found"; null when none was given (or not yet asked). */
  const gpuNote = ref<string | null>(null)
  /** True once `GET /api/system` has answered on this connection's watch. */
  const noteKnown = ref(false)
  /** True once any sample or history has arrived. */
  const received = ref(false)

  const latest = computed(() => samples.value.at(-1) ?? null)
  /** The devices of the newest sample. */
  const gpus = computed(() => latest.value?.gpus ?? [])

  /** The server's history replaces ours: idempotent on reconnect. */
  function applyHistory(msg: SystemHistoryMessage): void {
    samples.value = mergeSamples([], msg.samples)
    received.value = true
  }

  function applySample(msg: SystemMessage): void {
    samples.value = mergeSamples(samples.value, [msg.sample])
    received.value = true
  }

  function applySnapshot(snapshot: SystemSnapshot): void {
    gpuNote.value = snapshot.gpu_note
    noteKnown.value = true
    if (snapshot.samples.length) {
      samples.value = mergeSamples(samples.value, snapshot.samples)
      received.value = true
    }
  }

  function reset(): void {
    samples.value = []
    gpuNote.value = null
    noteKnown.value = false
    received.value = false
  }

  return { samples, gpuNote, noteKnown, received, latest, gpus, applyHistory, applySample, applySnapshot, reset }
})
