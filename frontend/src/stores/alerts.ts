import type { AlertRule, AlertsMessage, AlertsSnapshot, AlertState } from '../protocol'
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { firingAlerts } from '../monitoring'

/**
 * The run's alert rules and where each alert stands, as the server last said. The socket's
 * `alerts` message (on connect and on every change) is the authority; an HTTP answer (after
 * this page changed a rule) is applied only when no socket message came after it was asked for.
 */
export const useAlertsStore = defineStore('alerts', () => {
  const rules = shallowRef<AlertRule[]>([])
  const alerts = shallowRef<AlertState[]>([])
  /** True once the server has said anything about alerts. */
  const received = ref(false)
  /** Goes up with every socket snapshot. */
  const version = ref(0)

  const stateByName = computed(() => new Map(alerts.value.map(a => [a.name, a])))
  /** Firing alerts, most severe first. */
  const firing = computed(() => firingAlerts(alerts.value))

  function set(snapshot: AlertsSnapshot): void {
    rules.value = snapshot.rules
    alerts.value = snapshot.alerts
    received.value = true
  }

  function applyMessage(msg: AlertsMessage): void {
    set(msg)
    version.value++
  }

  /** An HTTP answer asked for at `askedAt` (a `version`): applied unless the socket has spoken since. */
  function applyFetched(snapshot: AlertsSnapshot, askedAt: number): boolean {
    if (version.value !== askedAt)
      return false
    set(snapshot)
    return true
  }

  function reset(): void {
    rules.value = []
    alerts.value = []
    received.value = false
    version.value++
  }

  return { rules, alerts, received, version, stateByName, firing, applyMessage, applyFetched, reset }
})
