import type { Ref } from 'vue'
import type { AlertRule } from '../protocol'
import { readonly, ref } from 'vue'
import { alertRuleBody, validateAlertsSnapshot } from '../protocol'
import { useAlertsStore } from '../stores/alerts'
import { useFeedbackStore } from '../stores/feedback'
import { requestJson } from './http'

/**
 * Alert rules changed over HTTP: add, replace (edit, enable, disable) and delete, each
 * acknowledged with a toast or refused with the server's reason (a toast, and the result for
 * the form to show). The server then announces the new picture on the socket; the page also
 * asks `GET /api/alerts` itself so it shows the change even while the socket is down.
 */

export const ALERTS_URL = '/api/alerts'
export const ALERT_RULES_URL = '/api/alerts/rules'
/** The feedback store's request name for these toasts (`data-request`). */
export const ALERT_REQUEST = 'alert_rules'

export type RuleChange = 'add' | 'update' | 'enable' | 'disable' | 'delete'
export type RuleResult = { ok: true } | { ok: false, error: string }

const DONE: Record<RuleChange, string> = {
  add: 'added',
  update: 'saved',
  enable: 'enabled',
  disable: 'disabled',
  delete: 'deleted',
}

const VERB: Record<RuleChange, string> = {
  add: 'add',
  update: 'save',
  enable: 'enable',
  disable: 'disable',
  delete: 'delete',
}

export function ruleUrl(name: string): string {
  return `${ALERT_RULES_URL}/${encodeURIComponent(name)}`
}

export interface AlertRulesHandle {
  /** Rule name -> the change waiting for its answer (its buttons are disabled meanwhile). */
  busy: Readonly<Ref<Readonly<Record<string, RuleChange>>>>
  create: (rule: AlertRule) => Promise<RuleResult>
  replace: (name: string, rule: AlertRule) => Promise<RuleResult>
  setEnabled: (rule: AlertRule, enabled: boolean) => Promise<RuleResult>
  remove: (name: string) => Promise<RuleResult>
  /** Ask for the rules and states now; false when the answer did not come or was not applied. */
  refresh: () => Promise<boolean>
}

export function useAlertRules(): AlertRulesHandle {
  const store = useAlertsStore()
  const feedback = useFeedbackStore()
  const busy = ref<Record<string, RuleChange>>({})

  function setBusy(name: string, change: RuleChange | null): void {
    const next = { ...busy.value }
    if (change)
      next[name] = change
    else
      delete next[name]
    busy.value = next
  }

  async function refresh(): Promise<boolean> {
    const askedAt = store.version
    const res = await requestJson('GET', ALERTS_URL)
    if (!res.ok)
      return false
    const parsed = validateAlertsSnapshot(res.data)
    if (!parsed.ok) {
      console.warn(`[townlet] ${parsed.error}`)
      return false
    }
    return store.applyFetched(parsed.value, askedAt)
  }

  async function change(kind: RuleChange, name: string, method: 'POST' | 'PUT' | 'DELETE', url: string, body?: AlertRule): Promise<RuleResult> {
    if (busy.value[name])
      return { ok: false, error: `a change to '${name}' is still waiting for its answer` }
    setBusy(name, kind)
    try {
      const askedAt = store.version
      const res = await requestJson(method, url, body === undefined ? undefined : alertRuleBody(body))
      if (!res.ok) {
        feedback.push('error', `Could not ${VERB[kind]} alert rule '${name}': ${res.error}`, ALERT_REQUEST)
        return { ok: false, error: res.error }
      }
      feedback.push('ack', `Alert rule '${name}' ${DONE[kind]}`, ALERT_REQUEST)
      // An answer carrying the whole picture is used as is; otherwise ask for it.
      const snapshot = validateAlertsSnapshot(res.data)
      if (snapshot.ok)
        store.applyFetched(snapshot.value, askedAt)
      else
        void refresh()
      return { ok: true }
    }
    finally {
      setBusy(name, null)
    }
  }

  return {
    busy: readonly(busy),
    create: rule => change('add', rule.name, 'POST', ALERT_RULES_URL, rule),
    replace: (name, rule) => change('update', name, 'PUT', ruleUrl(name), rule),
    setEnabled: (rule, enabled) => change(enabled ? 'enable' : 'disable', rule.name, 'PUT', ruleUrl(rule.name), { ...rule, enabled }),
    remove: name => change('delete', name, 'DELETE', ruleUrl(name)),
    refresh,
  }
}
