import type { ComputedRef, Ref } from 'vue'
import type { LiveSocket } from './useLiveSocket'
import { computed } from 'vue'
import { setSpeedMessage } from '../protocol'
import { useRunStore } from '../stores/run'
import { connectionView, type ConnectionView } from './connectionView'
import { liveSocketUrl, useLiveSocket } from './useLiveSocket'
import { useNow } from './useNow'

/**
 * Wires the one live socket to the run store. Called once, by the root component; children
 * get data from the store and report user intent (speed) upward, never touching the socket.
 */
export interface LiveRun {
  socket: LiveSocket
  connection: ComputedRef<ConnectionView>
  now: Readonly<Ref<number>>
  setSpeed: (stepsPerSecond: number) => boolean
  reconnect: () => void
}

export function useLiveRun(): LiveRun {
  const store = useRunStore()
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

  function setSpeed(stepsPerSecond: number): boolean {
    const msg = setSpeedMessage(stepsPerSecond)
    const sent = socket.send(msg)
    if (sent)
      store.noteSpeedRequest(msg.steps_per_second)
    return sent
  }

  return { socket, connection, now, setSpeed, reconnect: socket.open }
}
