import type { InjectionKey } from 'vue'
import type { PickWhen } from '../protocol'
import { inject } from 'vue'

/**
 * What the user can ask of the server. The root component provides it (backed by the one
 * socket in `useLiveRun`); components inject it and never see the socket. Each method
 * returns whether the request was sent (false: not connected, and a toast says so).
 */
export interface RunControls {
  setSpeed: (stepsPerSecond: number) => boolean
  pauseTraining: () => boolean
  resumeTraining: () => boolean
  pausePlay: () => boolean
  resumePlay: () => boolean
  stepPlay: () => boolean
  /** name null: follow the best checkpoint (by evaluation) or the newest, as `follow` says. */
  pickCheckpoint: (name: string | null, when: PickWhen, follow?: 'best' | 'newest') => boolean
  /** null: the server's default (earliest milestone on the left, newest on the right). */
  startCompare: (left: string | null, right: string | null) => boolean
  stopCompare: () => boolean
}

export const RUN_CONTROLS: InjectionKey<RunControls> = Symbol('run-controls')

export function useRunControls(): RunControls {
  const controls = inject(RUN_CONTROLS, null)
  if (!controls)
    throw new Error('useRunControls: no RunControls provided (App provides them from useLiveRun)')
  return controls
}
