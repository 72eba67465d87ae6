import type { ComputedRef, Ref } from 'vue'
import type { ClientMessage, PickWhen } from '../protocol'
import type { RunControls } from './controls'
import type { LiveSocket } from './useLiveSocket'
import type { TrainerStatusHandle } from './useTrainerStatus'
import { computed, getCurrentScope, onScopeDispose, watch } from 'vue'
import { pickCheckpointMessage, setSpeedMessage, startCompareMessage } from '../protocol'
import { useCompareStore } from '../stores/compare'
import { useFeedbackStore } from '../stores/feedback'
import { useRunStore } from '../stores/run'
import { connectionView, type ConnectionView } from './connectionView'
import { createFrameBatch } from './pacing'
import { liveSocketUrl, useLiveSocket } from './useLiveSocket'
import { useNow } from './useNow'
import { useSystemSnapshot } from './useSystemSnapshot'
import { useTrainerStatus } from './useTrainerStatus'

/**
 * Wires the one live socket to the stores. Called once, by the root component, which provides
 * `controls` to the components below; they get data from the stores and ask for changes through
 * `controls`, never touching the socket.
 */
export interface LiveRun {
  socket: LiveSocket
  connection: ComputedRef<ConnectionView>
  now: Readonly<Ref<number>>
  controls: RunControls
  reconnect: () => void
  /** Whether the trainer behind the dev server answers (the header's indicator). */
  trainer: TrainerStatusHandle
}

/** The messages that stream at the play pace (up to 60 a second): they wait for a frame. */
const STREAMED = new Set(['state', 'compare_state'])

function isStreamed(data: unknown): boolean {
  return typeof data === 'object' && data !== null && STREAMED.has((data as { type?: unknown }).type as string)
}

function sameView(a: ConnectionView, b: ConnectionView): boolean {
  return a.tone === b.tone && a.label === b.label && a.detail === b.detail && a.stale === b.stale
}

export function useLiveRun(): LiveRun {
  const store = useRunStore()
  const compare = useCompareStore()
  const feedback = useFeedbackStore()
  // States are applied once per animation frame, all of them and in order (the return and the
  // trail need every step), so that the page renders at most once a frame; any other message
  // is applied at once, after the states that came before it.
  const batch = createFrameBatch((data, receivedAt) => store.ingest(data, receivedAt))
  if (getCurrentScope())
    onScopeDispose(batch.cancel)
  const socket = useLiveSocket(() => liveSocketUrl(), {
    onMessage: data => (isStreamed(data) ? batch.defer(data) : batch.now(data)),
  })
  const now = useNow(500)

  // Every message moves lastMessageAt; the view changes far less often. Keeping the same
  // object while it says the same keeps the page from re-rendering on every message.
  const connection = computed<ConnectionView>((prev) => {
    const next = connectionView({
      status: socket.status.value,
      everOpened: socket.everOpened.value,
      switching: socket.switching.value,
      nextRetryAt: socket.nextRetryAt.value,
      retries: socket.retries.value,
      lastMessageAt: socket.lastMessageAt.value,
      now: now.value,
    })
    return prev && sameView(prev, next) ? prev : next
  })

  const trainer = useTrainerStatus({ helloVersion: () => store.hello?.protocol_version ?? null })

  // The trainer is back: retry the socket now rather than when the backoff (up to 8 s) says,
  // so play flows again within a poll or two. An open socket is left alone: the trainer may
  // have been merely slow or unhealthy while the link stayed up.
  watch(() => trainer.status.value?.ok, (ok, was) => {
    if (ok === true && was === false && socket.status.value !== 'open')
      socket.open()
  })

  // Why no GPU is watched is said only over HTTP: ask on every (re)connect.
  useSystemSnapshot(socket.status)

  // A comparison lives on the server side of this connection: a drop ends it, and so does a
  // move to another trial of a sweep (the socket then goes straight to 'connecting').
  watch(socket.status, (status) => {
    if (status !== 'open')
      compare.connectionLost()
  })

  /** Send one request; the feedback store tracks its answer (ack or error). */
  function send(msg: ClientMessage): boolean {
    const sent = socket.send(msg)
    if (sent)
      feedback.sent(msg.type)
    else
      feedback.notSent(msg.type)
    return sent
  }

  const controls: RunControls = {
    setSpeed(stepsPerSecond: number): boolean {
      const range = store.speedRange
      if (!range)
        return false
      const msg = setSpeedMessage(stepsPerSecond, range)
      const sent = send(msg)
      if (sent)
        store.noteSpeedRequest(msg.steps_per_second)
      return sent
    },
    pauseTraining: () => send({ type: 'pause_training' }),
    resumeTraining: () => send({ type: 'resume_training' }),
    pausePlay: () => send({ type: 'pause_play' }),
    resumePlay: () => send({ type: 'resume_play' }),
    stepPlay: () => send({ type: 'step_play' }),
    pickCheckpoint: (name: string | null, when: PickWhen, follow: 'best' | 'newest' = 'newest') =>
      send(pickCheckpointMessage(name, when, follow)),
    startCompare(left: string | null, right: string | null): boolean {
      const sent = send(startCompareMessage(left, right))
      if (sent)
        compare.noteRequested(left, right)
      return sent
    },
    stopCompare: () => send({ type: 'stop_compare' }),
  }

  return { socket, connection, now, controls, reconnect: socket.open, trainer }
}
