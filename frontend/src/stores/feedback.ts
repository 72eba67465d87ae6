import type { AckMessage, ClientMessageType, ErrorMessage } from '../protocol'
import { defineStore } from 'pinia'
import { ref } from 'vue'

/**
 * What came of this page's requests: brief toasts (acks subtle, errors with the reason) and
 * which request types are still waiting for their answer (their buttons show it).
 */

export type ToastKind = 'ack' | 'error'

export interface Toast {
  id: number
  kind: ToastKind
  text: string
  /** The request this answers, when known. */
  request: string | null
}

export const ACK_TOAST_MS = 2500
export const ERROR_TOAST_MS = 8000
/** A request with no answer after this long stops showing as pending. */
export const PENDING_TIMEOUT_MS = 5000
const MAX_TOASTS = 4

/** Words for request types in toasts. */
const REQUEST_WORDS: Record<string, string> = {
  set_speed: 'speed',
  pause_training: 'pause training',
  resume_training: 'resume training',
  pause_play: 'pause play',
  resume_play: 'resume play',
  step_play: 'step',
  pick_checkpoint: 'pick checkpoint',
  start_compare: 'start compare',
  stop_compare: 'stop compare',
}

export function requestWords(request: string | null): string {
  return request === null ? 'request' : REQUEST_WORDS[request] ?? request.replace(/_/g, ' ')
}

export const useFeedbackStore = defineStore('feedback', () => {
  const toasts = ref<Toast[]>([])
  const pending = ref<Partial<Record<ClientMessageType, true>>>({})
  let nextId = 1
  const timers = new Map<number, ReturnType<typeof setTimeout>>()
  const pendingTimers = new Map<string, ReturnType<typeof setTimeout>>()

  function dismiss(id: number): void {
    const timer = timers.get(id)
    if (timer !== undefined)
      clearTimeout(timer)
    timers.delete(id)
    toasts.value = toasts.value.filter(t => t.id !== id)
  }

  function push(kind: ToastKind, text: string, request: string | null = null): number {
    const id = nextId++
    const all = [...toasts.value, { id, kind, text, request }]
    // The oldest go first when too many pile up.
    for (const old of all.slice(0, Math.max(0, all.length - MAX_TOASTS)))
      dismiss(old.id)
    toasts.value = all.slice(-MAX_TOASTS)
    timers.set(id, setTimeout(() => dismiss(id), kind === 'error' ? ERROR_TOAST_MS : ACK_TOAST_MS))
    return id
  }

  function settle(request: string | null): void {
    if (request === null)
      return
    const timer = pendingTimers.get(request)
    if (timer !== undefined)
      clearTimeout(timer)
    pendingTimers.delete(request)
    if (request in pending.value) {
      const next = { ...pending.value }
      delete next[request as ClientMessageType]
      pending.value = next
    }
  }

  function sent(request: ClientMessageType): void {
    settle(request)
    pending.value = { ...pending.value, [request]: true }
    pendingTimers.set(request, setTimeout(() => settle(request), PENDING_TIMEOUT_MS))
  }

  /** The page could not send at all (socket not open). */
  function notSent(request: ClientMessageType): void {
    push('error', `Could not ${requestWords(request)}: not connected to the live server`, request)
  }

  function ack(msg: AckMessage): void {
    settle(msg.request)
    push('ack', msg.message || `${requestWords(msg.request)}: done`, msg.request)
  }

  function error(msg: ErrorMessage): void {
    settle(msg.request)
    const what = msg.request === null ? 'The server refused a message' : `Refused: ${requestWords(msg.request)}`
    push('error', `${what}: ${msg.message}`, msg.request)
  }

  function isPending(request: ClientMessageType): boolean {
    return pending.value[request] === true
  }

  return { toasts, pending, push, dismiss, sent, notSent, ack, error, isPending }
})
