import type { ComputedRef, Ref } from 'vue'
import type { ClientMessage, PickWhen } from '../protocol'
import type { RunControls } from './controls'
import type { LiveSocket } from './useLiveSocket'
import type { TrainerStatusHandle } from './useTrainerStatus'
import { computed, watch } from 'vue'
import { pickCheckpointMessage, setSpeedMessage, startCompareMessage } from '../protocol'
import { useCompareStore } from '../stores/compare'
import { useFeedbackStore } from '../stores/feedback'
import { useRunStore } from '../stores/run'
import { connectionView, type ConnectionView } from './connectionView'
import { liveSocketUrl, useLiveSocket } from './useLiveSocket'
import { useNow } from './useNow'
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

export function useLiveRun(): LiveRun {
  const store = useRunStore()
  const compare = useCompareStore()
  const feedback = useFeedbackStore()
  const socket = useLiveSocket(() => liveSocketUrl(), {
    onMessage: data => store.ingest(data),
  })
  const now = useNow(500)

  const connection = computed(() => connectionView({
    status: socket.status.value,
    everOpened: socket.everOpened.value,
    nextRetryAt: socket.nextRetryAt.value,
    retries: socket.retries.value,
    lastMessageAt: socket.lastMessageAt.value,
    now: now.value,
  }))

  const trainer = useTrainerStatus({ helloVersion: () => store.hello?.protocol_version ?? null })

  // The trainer is back: retry the socket now rather than when the backoff (up to 8 s) says,
  // so play flows again within a poll or two. An open socket is left alone: the trainer may
  // have been merely slow or unhealthy while the link stayed up.
  watch(() => trainer.status.value?.ok, (ok, was) => {
    if (ok === true && was === false && socket.status.value !== 'open')
      socket.open()
  })

  // A comparison lives on the server side of this connection: a drop ends it.
  watch(socket.status, (status) => {
    if (status === 'closed')
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
    pickCheckpoint: (name: string | null, when: PickWhen) => send(pickCheckpointMessage(name, when)),
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
